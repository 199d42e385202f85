"""report.html of build, train and eval runs, and ``imhi view``, opened in a real browser.

Debian chromium through Playwright (tests/_browser.py; skipped with the reason where either is
missing). Each report is opened from file://: no console error, no request but the file itself;
typing in the search box changes the visible rows, a filter narrows them, a row opens. Screenshots
go to the test's temporary folder (and to $IMHI_SCREENSHOTS, when set, for docs/).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from _browser import missing, open_report
from fakeserver import FakeOpenAI, default_responder

from imhi.config import load_recipe
from imhi.evaluation.page import write_eval_page
from imhi.evaluation.score import MetricsConfig, score_generations
from imhi.html import read_page
from imhi.io import dump_yaml, read_jsonl, write_jsonl
from imhi.synthesis.pipeline import run_teacher
from imhi.synthesis.recipe import BuildRecipe
from imhi.training.page import write_train_page
from imhi.training.recipe import load_train_recipe
from imhi.training.stages import StageResult

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "imhi" / "sample" / "posts.jsonl"
os.environ["IMHI_NO_PROGRESS"] = "1"


@pytest.fixture(scope="module")
def browser() -> Any:
    why = missing()
    if why:
        pytest.skip(why)
    from _browser import ARGS, CHROMIUM
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def shot(page: Any, tmp: Path, name: str) -> Path:
    """A screenshot under the test's folder, copied to $IMHI_SCREENSHOTS when that is set."""
    path = tmp / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("IMHI_SCREENSHOTS"):
        target = Path(os.environ["IMHI_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def rows_shown(opened: Any, table: str = "") -> int:
    scope = f'[data-table="{table}"] ' if table else ""
    return opened.page.locator(f"{scope}tbody tr.row").count()


def total(opened: Any, table: str = "") -> int:
    """The number of matching rows the pager states ("1–50 of N rows")."""
    return int(opened.count(table).split(" of ")[1].split()[0])


def reference_build(cli: Any, tmp: Path) -> Path:
    code, _, err = cli("build", str(REPO / "build_dataset/sample-reference.yaml"), "--out", str(tmp / "ref"))
    assert code == 0, err
    return tmp / "ref"


def test_reference_build_report_search_filter_open(browser: Any, cli: Any, tmp_path: Path) -> None:
    run = reference_build(cli, tmp_path)
    page = read_page(run / "report.html")
    assert page["kind"] == "build" and page["headline"] == {"posts": 90, "kept": 90}
    opened = open_report(browser, run / "report.html")
    assert not opened.errors and not opened.network()
    assert total(opened) == 90 and rows_shown(opened) == 50  # paged
    opened.page.fill("input[type=search]", "guitar has a layer of dust")
    assert total(opened) == 1 and rows_shown(opened) == 1
    assert "sample-dr-001" in opened.page.locator("tbody tr.row").inner_text()
    opened.page.fill("input[type=search]", "")
    opened.page.select_option('select[data-filter="status"]', label="flagged")
    flagged = [r for r in read_jsonl(run / "rejected.jsonl") if r.get("action") == "flag"]
    assert total(opened) == len(flagged) >= 1
    opened.page.locator("tbody tr.row").first.click()
    detail = opened.page.locator("tr.detail").inner_text()
    assert flagged[0]["reason"][:40] in detail  # the try with its filter and reason
    shot(opened.page, tmp_path, "build-reference")
    assert not opened.errors


def flaky_teacher(messages: list[dict[str, str]]) -> str:
    """Default replies, but an empty one for the post about a thesis (a failed call: teacher_error)."""
    return "" if "thesis" in messages[-1]["content"] else default_responder(messages)


def test_teacher_build_report_shows_prompt_and_tries(browser: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI(responder=flaky_teacher) as server:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(dump_yaml({
            "name": "t", "mode": "teacher", "tasks": ["dr", "dreaddit"], "min_kept": 0.1,
            "sources": [{"name": "sample", "format": "jsonl", "path": str(SAMPLE), "splits": ["train", "valid"],
                         "columns": {"text": "text", "label": "label", "id": "id", "task": "task", "split": "split"}}],
            "teacher": {"kind": "openai", "model": "fake", "base_url": server.base_url, "concurrency": 4,
                        "retry_min_s": 0.01, "max_retries": 1},
            "prompting": {"k": 1}, "filters": {"regenerations": 1}}), encoding="utf-8")
        run = run_teacher(load_recipe(recipe, BuildRecipe), tmp_path, tmp_path / "run")
    assert {r["split"] for r in read_jsonl(SAMPLE) if r["task"] == "dr"} >= {"test"}
    assert not (run / "dataset" / "test.jsonl").is_file() or not list(read_jsonl(run / "dataset" / "test.jsonl"))
    opened = open_report(browser, run / "report.html")
    assert not opened.errors and not opened.network()
    assert total(opened) == 28  # the train and valid posts of dr and dreaddit
    opened.page.select_option('select[data-filter="status"]', label="dropped")
    assert total(opened) == 1
    opened.page.locator("tbody tr.row").first.click()
    detail = opened.page.locator("tr.detail").inner_text()
    assert "[system]" in detail and "[assistant]" in detail  # the few-shot prompt sent
    assert "My thesis draft is due Friday" in detail  # the post, in place of {post}
    assert "teacher_error" in detail and "EmptyReply" in detail  # its try, with filter and reason
    shot(opened.page, tmp_path, "build-teacher")


def fake_stages(tmp: Path, dataset: Path) -> tuple[Any, list[StageResult], dict[str, Any]]:
    """A two-stage run's files as `imhi train` leaves them (logs, metrics, scores), without training."""
    recipe = load_train_recipe(REPO / "train" / "demo.yaml", [
        f"output_root={tmp / 'runs'}", f"stages.0.data.0.path={dataset}", f"stages.1.data.0.path={dataset}"])
    results = []
    for i, (name, start) in enumerate((("depression", 2.4), ("stress", 2.0))):
        folder = recipe.run_dir() / f"stage_{i + 1}"
        lines = [{"step": s, "epoch": s / 8, "loss": start - 0.15 * s, "learning_rate": 5e-4} for s in (2, 4, 6, 8)]
        write_jsonl(folder / "log.jsonl", [*lines, {"step": 8, "eval_loss": start - 0.9}])
        tasks = ["dr"] if i == 0 else ["dreaddit"]
        results.append(StageResult(i, name, folder, recipe.model, folder / "adapter", tasks,
                                   {"train_rows": 12, "wall_s": 30.5, "start": "fresh" if i == 0 else "continue"}))
    scores = {"depression": {"dr": {"accuracy": 0.5, "unparsed_rate": 0.25}, "dreaddit": {"accuracy": 0.5}},
              "stress": {"dr": {"accuracy": 0.375, "unparsed_rate": 0.0}, "dreaddit": {"accuracy": 0.75}}}
    return recipe, results, scores


def test_train_report_curves_mix_and_changes(browser: Any, cli: Any, tmp_path: Path) -> None:
    recipe, results, scores = fake_stages(tmp_path, reference_build(cli, tmp_path) / "dataset")
    path = write_train_page(recipe, results, scores, ("accuracy", "unparsed_rate"))
    opened = open_report(browser, path)
    assert not opened.errors and not opened.network()
    assert opened.page.locator("figure svg").count() == 1  # the loss curves, inline
    accuracy = opened.page.locator("table.static").nth(2)
    assert accuracy.locator("td.down").inner_text() == "0.375"  # dr got worse after stage 2
    assert accuracy.locator("td.up").inner_text() == "0.750"
    assert opened.page.locator("table.static").nth(3).locator("td.up").inner_text() == "0"  # fewer unparsed
    mix = opened.page.locator("table.static").nth(1).inner_text()
    assert "dr\tyes\t6" in mix and "dreaddit\tno\t6" in mix  # 6 train posts per label per task
    assert total(opened, "log") == 10
    opened.page.select_option('[data-table="log"] select[data-filter="stage"]', label="stress")
    assert total(opened, "log") == 5
    shot(opened.page, tmp_path, "train-fake")


def answers(tests: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """Model a: the reference answer; model b: "yes" to every post, unreadable for every third."""
    rows = []
    for i, r in enumerate(tests):
        text = r["answer"] if model == "a" else (
            "I cannot tell from this post." if i % 3 == 0 else
            "Yes. Reasoning: the poster sounds low and worried, so the answer is yes.")
        rows.append({"id": r["id"], "task": r["task"], "query": r["query"], "label": r["label"],
                     "answer": r["answer"], "prediction": text, "model": model})
    return rows


def test_eval_report_posts_filters_and_view(browser: Any, cli: Any, tmp_path: Path) -> None:
    ref = reference_build(cli, tmp_path)
    tests = [r for r in read_jsonl(ref / "dataset" / "test.jsonl") if r["task"] in ("dr", "dreaddit")]
    run = tmp_path / "eval"
    write_jsonl(run / "data" / "tests.jsonl", tests)
    for model in ("a", "b"):
        write_jsonl(run / model / "generations.jsonl", answers(tests, model))
        score_generations(run / model / "generations.jsonl", run / model,
                          MetricsConfig(n_boot=50, steps=["template", "alias"], plots=False))
    path = write_eval_page(run, "Eval: t", {"a": run / "a", "b": run / "b"}, ["accuracy"], {}, run / "data/tests.jsonl")
    opened = open_report(browser, path)
    assert not opened.errors and not opened.network()
    assert total(opened) == 32 and opened.page.locator("figure svg").count() == 4  # 2 models × 2 tasks
    b_no = sum(1 for i, r in enumerate(tests) if r["label"] == "no" or i % 3 == 0)  # b is wrong or unparsed
    opened.page.select_option('select[data-filter="any wrong"]', label="yes")
    assert total(opened) == b_no
    opened.page.select_option('select[data-filter="any wrong"]', label="all")
    opened.page.select_option('select[data-filter="any unparsed"]', label="yes")
    assert total(opened) == len(range(0, 32, 3))
    terrier = next(i for i, r in enumerate(tests) if "scruffy terrier" in r["text"])
    opened.page.fill("input[type=search]", "scruffy terrier")
    assert total(opened) == int(terrier % 3 == 0)  # search within the filter
    opened.page.select_option('select[data-filter="any unparsed"]', label="all")
    assert total(opened) == 1
    opened.page.locator("tbody tr.row").first.click()
    detail = opened.page.locator("tr.detail").inner_text()
    assert "Adopted a scruffy terrier" in detail and "a: answer" in detail.lower()
    shot(opened.page, tmp_path, "eval-fake")
    code, out, err = cli("view", str(run), str(ref), "--out", str(tmp_path / "cmp.html"), "--print")
    assert code == 0 and "cmp.html" in out, err
    both = open_report(browser, tmp_path / "cmp.html")
    assert not both.errors and not both.network()
    text = both.page.locator("main").inner_text()
    assert "eval: Every post" in text and "ref: Every post" in text and "a dr weighted_f1" in text


@pytest.mark.slow
@pytest.mark.parametrize("step", ["build", "train", "eval"])
def test_demo_reports(browser: Any, demo_runs: tuple[Path, str], tmp_path: Path, step: str) -> None:
    """The reports of `imhi demo`: the checkout's own full run where it has run (the screenshots in
    docs/ come from there, IMHI_SCREENSHOTS=docs), else `imhi demo --quick` (conftest.demo_runs)."""
    root, name = demo_runs
    path = root / "runs" / step / name / "report.html"
    opened = open_report(browser, path, height=1000)
    assert not opened.errors and not opened.network()
    table = "log" if step == "train" else ""
    before = total(opened, table)
    search = opened.page.locator(f'{f"[data-table={table}] " if table else ""}input[type=search]')
    search.fill("stress" if step == "train" else "yes")
    assert 0 < total(opened, table) <= before
    search.fill("")
    opened.page.locator(f'{f"[data-table={table}] " if table else ""}tbody tr.row').first.click()
    if step == "train":  # the stages, data mix and loss curves at the top
        opened.page.evaluate("window.scrollTo(0, 0)")
    else:  # the funnel or metrics just above, the opened row below
        opened.page.locator("tr.detail").scroll_into_view_if_needed()
        opened.page.mouse.wheel(0, -250)
    shot(opened.page, tmp_path, f"report-{step}")
    assert json.loads(json.dumps(read_page(path)))["kind"] == step


def test_sheet_score_report(browser: Any, cli: Any, tmp_path: Path) -> None:
    """`imhi sheet score` on a long ratings table: human_eval.md's tables and plot, every rating."""
    lines = ["item,system,annotator,aspect,score"]
    for item in range(6):
        for system in ("base", "tuned"):
            for ann in ("ana", "ben"):
                for aspect in ("fluency", "overall"):
                    lines.append(f"p{item},{system},{ann},{aspect},{(item + len(system) + len(ann)) % 4}")
    (tmp_path / "ratings.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cli("sheet", "score", str(tmp_path / "ratings.csv"), "--out", str(tmp_path / "s"),
                       "--bootstrap", "50")
    assert code == 0, err
    opened = open_report(browser, tmp_path / "s" / "report.html")
    assert not opened.errors and not opened.network()
    assert opened.page.locator("figure img").count() == 1 and opened.page.locator("table.static").count() >= 3
    assert total(opened) == 48
    opened.page.select_option('select[data-filter="system"]', label="tuned")
    opened.page.select_option('select[data-filter="aspect"]', label="overall")
    assert total(opened) == 12
    opened.page.fill("input[type=search]", "ana")
    assert total(opened) == 6
    shot(opened.page, tmp_path, "sheet")


def test_extractor_report(browser: Any, tmp_path: Path) -> None:
    from imhi.evaluation.page import write_extractor_page

    report = {"tasks": {"dr": {"train_n": 24, "val_n": 4, "val_accuracy": 0.75, "steps": 30, "test": {}}},
              "eval": {"test.jsonl": {"dr": {"n": 16, "accuracy": 0.8125}}},
              "warnings": ["dr: validation accuracy 75% is below 90%"]}
    opened = open_report(browser, write_extractor_page(tmp_path, report))
    assert not opened.errors and not opened.network()
    text = opened.page.locator("main").inner_text()
    assert "0.813" in text and "below 90%" in text
