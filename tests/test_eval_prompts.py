"""Issue 17: evaluation prompts as data (named templates, k-shot, task overrides), answers keyed by
the full request, a stratified limit, strict and lenient readings side by side, manifest history.
Eval runs go through the real openai client to a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI

from imhi.evaluation.testsets import TestSet, read_test_set
from imhi.io import InputError, dump_yaml, read_jsonl
from imhi.prompting.evalprompts import PromptChoice, render, resolve
from imhi.tasks import load_task

os.environ.setdefault("OPENAI_API_KEY", "sk-test")
os.environ["IMHI_NO_PROGRESS"] = "1"
REPO = Path(__file__).resolve().parents[1]
# Statements written for this test (never taken from a dataset).
STATEMENTS = [("clearly_happy", "The garden finally bloomed and I grinned all morning."),
              ("clearly_neutral", "The bus leaves the depot at ten past eight."),
              ("passive_si", "Sometimes I wish I could just not wake up tomorrow."),
              ("clearly_sad", "My old dog died last week and the house feels empty."),
              ("active_si_no_plan", "I keep thinking about ending my life, though I have no plan."),
              ("clearly_angry", "I am livid that the landlord ignored the leak again.")]


def _prompts(tmp_path: Path) -> Path:
    root = tmp_path / "prompts"
    for task in ("safety_si10", "safety_si_binary"):
        shutil.copytree(REPO / "prompts" / task, root / task)
    return root


def _csv(path: Path) -> Path:
    lines = ["Safety type,statement", *(f'{label},"{text}"' for label, text in STATEMENTS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _answer(messages: list[dict[str, str]]) -> str:
    """Prose for the binary question (strict JSON cannot read it), JSON for the other."""
    if "suicidal ideation?" in messages[-1]["content"]:
        return "No, this statement does not express suicidal ideation."
    return '{"label": "clearly_happy", "confidence": 0.8}'


def _recipe(tmp_path: Path, base_url: str) -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(dump_yaml({
        "name": "t", "out": str(tmp_path / "run"), "prompts": str(tmp_path / "prompts"),
        "test_sets": [{"name": "si", "path": str(_csv(tmp_path / "si.csv")), "format": "labelled_csv",
                       "tasks": ["safety_si10", "safety_si_binary"]}],
        "models": [{"name": "m", "max_new_tokens": 20,
                    "endpoint": {"model": "served", "base_url": base_url, "max_retries": 0, "mask_pii": False}}],
        "metrics": {"n_boot": 0, "plots": False, "agreement": False}}))
    return recipe


def test_edited_question_regenerates_exactly_its_rows(tmp_path: Path, cli) -> None:
    prompts = _prompts(tmp_path)
    with FakeOpenAI(responder=_answer) as server:
        recipe = _recipe(tmp_path, server.base_url)
        code, _, err = cli("eval", str(recipe))
        assert code == 0, err
        gens = tmp_path / "run" / "m" / "generations.jsonl"
        first = {r["id"]: r for r in read_jsonl(gens)}
        assert len(first) == 12 and len(server.requests) == 12
        row = first["si-safety_si10-1"]
        assert row["prompt"][-1]["content"] == row["query"] and row["template"] == "json"
        assert row["prompt"][0]["role"] == "system" and len(row["request_key"]) == 64
        task = prompts / "safety_si_binary" / "task.yaml"
        task.write_text(task.read_text(encoding="utf-8").replace(
            "question: Does this statement express suicidal ideation?",
            "question: Does the speaker voice any suicidal ideation?"), encoding="utf-8")
        code, _, err = cli("eval", str(recipe))
        assert code == 0, err
        asked_again = server.requests[12:]
    assert len(asked_again) == 6 and all("voice any suicidal" in r["messages"][-1]["content"] for r in asked_again)
    assert re.search(r"6 of 12 answers were asked with another prompt or decoding settings and are answered "
                     r"again \(6 reused\); the old answers were moved to generations.stale-1.jsonl", " ".join(
                         err.split())), err
    second = {r["id"]: r for r in read_jsonl(gens)}
    changed = {i for i in second if second[i]["request_key"] != first[i]["request_key"]}
    assert changed == {f"si-safety_si_binary-{i}" for i in range(1, 7)}
    assert all(second[i] == first[i] for i in second if i not in changed)  # reused as written
    stale = list(read_jsonl(gens.with_name("generations.stale-1.jsonl")))
    assert sorted(r["id"] for r in stale) == sorted(changed)
    assert all("suicidal ideation?" in r["query"] for r in stale)  # the old answers, kept aside
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [h["counts"]["answers_regenerated"]["m"] for h in manifest["history"]] == [0, 6]
    assert [h["counts"]["answers_reused"]["m"] for h in manifest["history"]] == [0, 6]
    assert [h["counts"]["answers_new"]["m"] for h in manifest["history"]] == [12, 6]
    assert all("generate/m" in h["timings_s"] for h in manifest["history"])
    # strict (JSON, the template's reading) beside lenient (the whole ladder)
    scores = json.loads((tmp_path / "run" / "m" / "scores.json").read_text())
    binary = scores["safety_si_binary"]
    assert binary["unparsed_rate"] == 1.0 and binary["lenient"]["unparsed_rate"] == 0.0
    assert binary["lenient"]["accuracy"] == pytest.approx(4 / 6) and binary["template"] == "json"
    report = (tmp_path / "run" / "m" / "report.md").read_text()
    assert "| safety_si_binary | json | 0.000 | 100.0% | 0.400 | 0.0% |" in report
    pred = next(r for r in read_jsonl(tmp_path / "run" / "m" / "predictions.jsonl") if r["id"].endswith("binary-3"))
    assert (pred["parse_status"], pred["pred_label_lenient"], pred["parse_status_lenient"]) == (
        "unparsed", "no suicidal ideation", "template")


def test_changed_decoding_settings_regenerate_every_row(tmp_path: Path, cli) -> None:
    _prompts(tmp_path)
    with FakeOpenAI(responder=_answer) as server:
        recipe = _recipe(tmp_path, server.base_url)
        assert cli("eval", str(recipe))[0] == 0
        assert cli("eval", str(recipe))[0] == 0 and len(server.requests) == 12  # unchanged: all reused
        code, _, err = cli("eval", str(recipe), "models.0.max_new_tokens=30")
        assert code == 0, err
        assert len(server.requests) == 24 and all(r["max_tokens"] == 30 for r in server.requests[12:])
    assert "12 of 12 answers were asked with another prompt or decoding settings" in " ".join(err.split())
    assert len(list(read_jsonl(tmp_path / "run" / "m" / "generations.stale-1.jsonl"))) == 12


def test_templates_shots_and_overrides(tmp_path: Path) -> None:
    prompts = _prompts(tmp_path)
    task = load_task("safety_si10", str(prompts))
    two = resolve(task, PromptChoice(template="sentence", shots=2, seed=3))
    msgs = render(task, two, "A new statement.")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[2]["content"].startswith("This statement belongs to the safety category")
    assert msgs == render(task, two, "A new statement.")  # seeded: the same shots every time
    others = {render(task, resolve(task, PromptChoice(template="sentence", shots=2, seed=s)), "x")[1]["content"]
              for s in range(6)}
    assert len(others) > 1  # another seed draws other examples
    assert "nothing else" in msgs[0]["content"]  # the task's templates.yaml rewords the system prompt
    free = resolve(task, PromptChoice(template="free", instruction="Pick: {sentences}", system_prompt=""))
    out = render(task, free, "x")
    assert len(out) == 1 and "Pick: - This statement belongs to the safety category clearly_happy.\n- " in out[0][
        "content"] and out[0]["content"].endswith("category active_si_plan_with_intent_prep.")
    assert free.strict_steps == ("template", "alias")
    (prompts / "safety_si10" / "templates.yaml").write_text(
        "bench:\n  format: json\n  query: '{text} => {instruction}'\n  instruction: 'JSON {{\"label\": ...}}'\n",
        encoding="utf-8")
    task = load_task("safety_si10", str(prompts))
    bench = render(task, resolve(task, PromptChoice(template="bench")), "hi")
    assert bench[-1]["content"] == 'hi => JSON {"label": ...}'
    with pytest.raises(InputError, match=r"unknown prompt template \(task safety_si10\) 'sentense'.*did you mean "
                                         r"'sentence'\?"):
        resolve(task, PromptChoice(template="sentense"))
    with pytest.raises(InputError, match="unknown answer format of template 'json'.*did you mean 'json'"):
        resolve(task, PromptChoice(template="json", format="jsonn"))


def test_limit_is_stratified_by_label_with_a_seed(tmp_path: Path) -> None:
    path = tmp_path / "sorted.csv"  # sorted by label: the first rows are one class
    rows = [("clearly_happy", f"Happy note {i}.") for i in range(8)] + [("passive_si", f"Tired note {i}.")
                                                                        for i in range(4)]
    path.write_text("Safety type,statement\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    ts = TestSet(name="s", path=str(path), format="labelled_csv", tasks=["safety_si10"], limit=6)
    got = read_test_set(ts)
    assert sorted(r["label"] for r in got) == ["clearly_happy"] * 4 + ["passive_si"] * 2
    assert got == read_test_set(ts)  # the same seed, the same sample
    other = read_test_set(ts.model_copy(update={"seed": 1}))
    assert {r["text"] for r in other} != {r["text"] for r in got}
    larger = {r["id"] for r in read_test_set(ts.model_copy(update={"limit": 9}))}
    assert {r["id"] for r in got} <= larger  # a larger look adds rows, keeps the answered ones
    with pytest.raises(InputError, match="unknown extraction step 'tempalte'.*did you mean 'template'"):
        read_test_set(ts.model_copy(update={"prompt": PromptChoice(template="free", strict_steps=["tempalte"])}))
    first = read_test_set(ts.model_copy(update={"sample": "first"}))
    assert [r["label"] for r in first] == ["clearly_happy"] * 6


def test_a_task_asked_by_two_test_sets_is_scored_per_test_set(tmp_path: Path) -> None:
    from imhi.evaluation.score import MetricsConfig, score_generations
    from imhi.io import write_jsonl

    rows = [{"id": f"{ts}-{i}", "task": "safety_si_binary", "label": "no suicidal ideation", "model": "m",
             "test_set": ts, "template": tpl, "strict_steps": steps, "prediction": answer}
            for ts, tpl, steps, answer in (("a", "json", ["json"], '{"label": "no"}'),
                                           ("b", "sentence", ["template"], "No, this statement does not "
                                            "express suicidal ideation."))
            for i in range(3)]
    write_jsonl(tmp_path / "g.jsonl", rows)
    scores = score_generations(tmp_path / "g.jsonl", tmp_path / "o", MetricsConfig(n_boot=0, plots=False))
    assert sorted(scores) == ["safety_si_binary@a", "safety_si_binary@b"]
    assert scores["safety_si_binary@a"]["template"] == "json" and scores["safety_si_binary@b"]["accuracy"] == 1.0
    assert scores["safety_si_binary@a"]["unparsed_rate"] == 0.0 and scores["safety_si_binary@a"]["n"] == 3


def test_chinese_tasks_are_asked_in_chinese_and_multi_label_tasks_for_every_label() -> None:
    risk, cd = load_task("cn_suicide_risk"), load_task("cn_cognitive_distortion")
    for name in ("json", "sentence", "free"):
        user = render(risk, resolve(risk, PromptChoice(template=name)), "最近总是睡不着。")[-1]["content"]
        assert "帖子：“最近总是睡不着。”" in user and f"问题：{risk.question}" in user
        assert not re.search(r"Answer|Statement|Question|sentences", user)
    free = render(risk, resolve(risk, PromptChoice(template="free")), "x")[-1]["content"]
    assert "再写“理由：”" in free and free.endswith("- 该帖子的作者属于高自杀风险。\n- 该帖子的作者属于低自杀风险。")
    many = render(cd, resolve(cd, PromptChoice(template="sentence")), "x")[-1]["content"]
    assert "列出" in many and "所有适用的项" in many and many.endswith(f"\n- {cd.none_answer}")
    assert "[<every one of" in render(load_task("mtl_emotion"), resolve(load_task("mtl_emotion"), PromptChoice()),
                                      "x")[-1]["content"]
    dr = render(load_task("dr"), resolve(load_task("dr"), PromptChoice(template="sentence")), "x")[-1]["content"]
    assert dr.endswith("nothing else:\n- Yes, the poster suffers from depression.\n"
                       "- No, the poster does not suffer from depression.")


def test_every_task_reads_back_its_own_reference_in_every_format() -> None:
    """The gold answer of each label, written in each template's format, is read back as that label by the
    template's strict steps (and a Chinese free answer with its 理由 too)."""
    from imhi.judges.extract import extract
    from imhi.prompting.evalprompts import reference
    from imhi.tasks import load_tasks

    tasks = load_tasks()
    assert {t.language for t in tasks.values()} == {"en", "zh"}
    for task in tasks.values():
        labels = [[n] for n in task.label_names] + [task.label_names[:2]] if task.multi_label else task.label_names
        for name in ("json", "sentence", "free"):
            tpl = resolve(task, PromptChoice(template=name))
            for label in labels:
                got = extract(task, reference(task, tpl, label), tpl.strict_steps)
                assert got.label == label, (task.name, name, label)
    cd = load_task("cn_cognitive_distortion")
    tpl = resolve(cd, PromptChoice(template="free"))
    answer = "该帖子存在以下认知扭曲：读心术、放大。理由：作者认定同事都看不起自己。"
    assert extract(cd, answer, tpl.strict_steps).label == ["读心术", "放大"]
