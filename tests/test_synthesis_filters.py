"""Reply parsing, the named filters, and near-duplicate detection on small real inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from imhi.judges import Verdict, read_reply
from imhi.synthesis.dedup import NearDuplicateIndex
from imhi.synthesis.filters import FILTERS, Candidate, Context, FilterConfig, first_failure
from imhi.synthesis.parse import parse_reply
from imhi.tasks import load_task

DR = load_task("dr")
EXPL = ("The author describes months of low mood, losing interest in music and avoiding friends. "
        "These lasting signs point to depression.")


def cand(raw: str, gold: object = "yes", finish: str | None = "stop") -> Candidate:
    task = DR
    p = parse_reply(task, raw)
    return Candidate(id="x", task=task, gold=gold, raw=raw, stated=p.label,  # type: ignore[arg-type]
                     explanation=p.explanation, marker=p.marker, finish_reason=finish)


def reason(name: str, c: Candidate, **cfg: object) -> str | None:
    return FILTERS[name].fn(c, Context(FilterConfig.model_validate(cfg)))


def test_parse_reply_variants() -> None:
    p = parse_reply(DR, f"**Answer:** Yes, the poster suffers from depression. Reasoning: {EXPL}")
    assert (p.label, p.marker, p.explanation) == ("yes", True, EXPL)
    p = parse_reply(DR, f"No, the poster does not suffer from depression. {EXPL}")
    assert p.label == "no" and not p.marker and p.explanation == EXPL
    assert parse_reply(DR, "I cannot help with that.").label is None
    cd = load_task("cn_cognitive_distortion")
    p = parse_reply(cd, "该帖子存在以下认知扭曲：放大、读心术。理由：作者认定别人都在嘲笑自己。")
    assert p.label == ["读心术", "放大"] and p.explanation.startswith("作者")
    assert read_reply(cd, "读心术、放大").label == ["读心术", "放大"]
    assert read_reply(DR, "Yes, the poster suffers from depression.").label == "yes"


def test_each_filter_catches_its_artifact() -> None:
    good = cand(f"Yes, the poster suffers from depression. Reasoning: {EXPL}")
    assert first_failure(good, Context(FilterConfig()), [n for n in FILTERS if n != "consistency"]) is None
    assert reason("empty", cand("")) == "empty reply"
    assert "token limit" in reason("truncated", cand(f"Yes. Reasoning: {EXPL}", finish="length"))
    assert "mid-sentence" in reason("truncated", cand("Yes. Reasoning: The author describes months of"))
    assert reason("no_reasoning", cand("Yes, the poster suffers from depression.")) is not None
    assert "gold is 'no'" in reason("correctness", cand(f"Yes. Reasoning: {EXPL}", gold="no"))
    assert reason("correctness", cand("Maybe. Reasoning: unclear.")) == "no readable label sentence"
    assert "hedge" in reason("hedge", cand("Yes. Reasoning: It is not possible to determine this."))
    assert "prompt echo" in reason("prompt_echo", cand("Yes. Reasoning: The response does not say."))
    assert "another example" in reason(
        "example_reference", cand("Yes. Reasoning: The reasoning is the same as the first example."))
    assert "too short" in reason("length", cand("Yes. Reasoning: Sad post."), min_words=5)
    assert "too long" in reason("length", good, max_words=5)
    judged = cand(f"Yes. Reasoning: {EXPL}")
    judged.verdicts = {"rules": Verdict("no", "there is no sign of depression")}
    assert "rules judge read 'no'" in reason("consistency", judged)
    judged.verdicts = {"rules": None, "llm": Verdict("yes", "LLM replied: yes")}
    assert reason("consistency", judged) is None  # no verdict is not a failure
    scored = cand(f"Yes. Reasoning: {EXPL}")
    scored.score = -4.0
    assert "quality score" in reason("quality", scored, quality_threshold=-3.0)


def test_duplicate_filters_use_the_kept_index() -> None:
    ctx = Context(FilterConfig(near_duplicate_threshold=0.8))
    first = cand(f"Yes. Reasoning: {EXPL}")
    ctx.index.add("a", first.explanation)
    same = cand(f"Yes. Reasoning: {EXPL.upper()}")
    assert "same explanation as a" in FILTERS["exact_duplicate"].fn(same, ctx)
    near = cand("Yes. Reasoning: " + EXPL[:-1] + " indeed.")
    assert FILTERS["exact_duplicate"].fn(near, ctx) is None
    assert "near-duplicate of a" in FILTERS["near_duplicate"].fn(near, ctx)
    other = cand("Yes. Reasoning: The poster writes that nothing feels worth doing and sleeps all day.")
    assert FILTERS["near_duplicate"].fn(other, ctx) is None


def test_near_duplicate_index_is_deterministic_and_scales() -> None:
    texts = [f"Explanation {i}: the poster mentions item {i * 7} and topic {i * 13} at length today."
             for i in range(3000)]
    a, b = NearDuplicateIndex(0.9), NearDuplicateIndex(0.9)
    for i, t in enumerate(texts[:2000]):
        a.add(str(i), t)
        b.add(str(i), t)
    assert a.match(texts[5]) == ("5", 1.0)
    assert a.match(texts[2500]) == b.match(texts[2500]) and a.match(texts[2500]) is None
    assert NearDuplicateIndex().match("anything") is None


SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "imhi"


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared IMHI data not present (fresh clone)")
def test_artifact_audit_on_released_dr_explanations() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from artifact_audit import audit_file

    res = audit_file(SHARED / "train" / "DR" / "train.csv")
    counts = res["counts"]
    assert res["rows"] > 900 and counts["unreadable_label"] == 0
    # the release's known artifacts are caught, in a small share of rows
    assert counts["hedge"] > 0 and counts["prompt_echo"] > 0 and counts["example_reference"] > 0
    assert counts["any"] < 0.1 * res["rows"]


def test_report_cost_from_the_price_table() -> None:
    from imhi.synthesis.report import Price, ReportConfig, TaskStats, cost, render

    stats = TaskStats(task="dr", posts=10, kept=8, dropped={"hedge": 2}, regenerations=3)
    stats.usage({"prompt_tokens": 1_000_000, "completion_tokens": 500_000}, cached=False)
    from imhi.models import ModelRef
    from imhi.teacher import BatchTeacher, LocalTeacher, OpenAITeacher

    cfg = ReportConfig(prices={"m": Price(input=0.5, output=1.5)})
    openai, batch = OpenAITeacher().cost_factor(0.5), BatchTeacher(kind="batch").cost_factor(cfg.batch_discount)
    local = LocalTeacher(kind="local", local=ModelRef(path="x")).cost_factor(0.5)
    assert cost(stats, "m", openai, cfg) == 0.5 + 0.75
    assert cost(stats, "m", batch, cfg) == (0.5 + 0.75) / 2
    assert cost(stats, "m", local, cfg) == 0.0 and cost(stats, "other", openai, cfg) is None
    text = render("x", "m", "openai", openai, [stats], cfg, ["hedge"])
    assert "| dr | 10 | 8 | 2 | 3 | 1 (0) | 1000000 | 500000 | 1.2500 |" in text
    assert "| hedge |" in text


def test_phrase_search_equals_the_full_case_insensitive_pattern() -> None:
    from imhi.synthesis.filters import ECHOES, HEDGES, OTHER_EXAMPLES

    texts = ["The Response shows", "a lathe response", "As an AI, I", "see Example 2", "counterexample 3",
             "the first examples", "NOT POSSIBLE to determine", "İ the response", "正确答案是 yes", "作为AI",
             "x_the prompt", "the prompt", "mythe prompt and the prompt", "nothing here", "",
             "same reasoning as before", "the same reasoning as", "ẞ the instructions", "you gave it"]
    for phrases in (HEDGES, ECHOES, OTHER_EXAMPLES):
        for t in texts:
            m = phrases.full.search(t)
            assert phrases.search(t) == (m.group(0) if m else None), (t, phrases.full.pattern[:40])
    assert ECHOES.search("mythe prompt and the prompt") == "the prompt"  # boundary fallback
    assert ECHOES.search("As an AI, I") == "As an AI"  # as written in the text


def test_minhash_estimates_jaccard() -> None:
    """The signature agreement estimates the shingle Jaccard (the old hash family did not)."""
    import random

    import numpy as np

    from imhi.synthesis.dedup import _minhash, jaccard

    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(400)]
    errs = []
    for _ in range(60):
        a = [rng.choice(vocab) for _ in range(60)]
        b = list(a)
        for k in rng.sample(range(60), rng.randint(0, 40)):
            b[k] = rng.choice(vocab)
        (sa, ga), (sb, gb) = _minhash(" ".join(a)), _minhash(" ".join(b))
        errs.append(abs(float(np.mean(ga == gb)) - jaccard(sa, sb)))
    assert float(np.mean(errs)) < 0.06 and max(errs) < 0.25
