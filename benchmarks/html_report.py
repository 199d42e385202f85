"""How a build's report.html copes with 100,000 rows: file size, time to write it, time until
the first page of rows is visible in headless Chromium (from file://), time of one search.

Writes ``report.html`` of a synthetic build into a temporary folder (or --out): the bundled
sample's posts and explanations repeated with a row number, a sixth of them dropped after two
tries (their replies kept), the build's real page code (imhi.synthesis.page). Opens it with
Debian's chromium through Playwright (tests/_browser.py). Prints the figures; aims: open < 3 s,
search < 300 ms.
Run: ``.venv/bin/python benchmarks/html_report.py [--rows 100000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _browser import ARGS, CHROMIUM, missing  # noqa: E402

from imhi.sample import load_sample  # noqa: E402
from imhi.schema import Post  # noqa: E402
from imhi.synthesis.page import chat_text, teacher_funnel, write_build_page  # noqa: E402
from imhi.synthesis.report import ReportConfig, TaskStats  # noqa: E402

SEARCH = "guitar has a layer of dust"  # in one sample post, so in 1/90 of the rows
SEARCH_JS = """async (q) => {
  const box = document.querySelector('input[type=search]');
  const t0 = performance.now();
  box.value = q; box.dispatchEvent(new Event('input'));
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return [performance.now() - t0, document.querySelector('.pager .count').textContent];
}"""


def synthetic_build(n: int) -> tuple[list[Post], dict[str, str], list[dict[str, Any]], list[TaskStats]]:
    """``n`` posts from the sample (text + row number); every sixth dropped after two tries."""
    sample = load_sample()
    posts, kept, rejected, stats = [], {}, [], {}
    for i in range(n):
        s = sample[i % len(sample)]
        post = Post(id=f"p{i}", source="bench", task=s["task"], text=f"{s['text']} (row {i})", label=s["label"],
                    split=("train", "valid", "test")[i % 3])
        posts.append(post)
        st = stats.setdefault(post.task, TaskStats(task=post.task))
        st.posts += 1
        if i % 6 == 5:
            for attempt in (0, 1):
                rejected.append({"id": post.id, "task": post.task, "attempt": attempt, "final": attempt == 1,
                                 "filter": "consistency", "reason": "rules judge read 'no'; gold is 'yes'",
                                 "reply": s["explanation"], "verdicts": {"rules": "'no' (…)"}})
            st.drop("consistency", ["rules"])
        else:
            kept[post.id] = s["explanation"]
            st.kept += 1
    return posts, kept, rejected, list(stats.values())


PROMPTS: dict[str, str] = {}


def prompt_of(post: Post) -> str:
    """One prompt per task and label (as TaskRun.prompt caches them)."""
    key = f"{post.task}/{post.label}"
    if key not in PROMPTS:
        PROMPTS[key] = chat_text([{"role": "system", "content": f"You explain {post.task} labels."},
                                  {"role": "user", "content": f"Post: {{post}}\nLabel: {post.label}"}])
    return PROMPTS[key]


def write(n: int, out: Path) -> tuple[float, int]:
    posts, kept, rejected, stats = synthetic_build(n)
    t0 = time.perf_counter()
    path = write_build_page(out, "Build: bench", "synthetic", posts, kept, rejected, stats,
                            teacher_funnel(stats, "fake", 0.0, ReportConfig()), prompt_of)
    return time.perf_counter() - t0, path.stat().st_size


def open_and_search(browser: Any, path: Path) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    t0 = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_selector("tbody tr.row", state="visible")
    opened = time.perf_counter() - t0
    first, count = page.evaluate(SEARCH_JS, SEARCH)
    second, _ = page.evaluate(SEARCH_JS, SEARCH.replace("dust", "dus"))
    cleared, _ = page.evaluate(SEARCH_JS, "")
    page.select_option('select[data-filter="status"]', label="dropped")
    t1 = time.perf_counter()
    page.select_option('select[data-filter="task"]', index=1)
    filtered = time.perf_counter() - t1
    page.close()
    return {"open_s": opened, "search1_ms": first, "search2_ms": second, "clear_ms": cleared,
            "filter_ms": filtered * 1000, "matches": count}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    why = missing()
    if why:
        sys.exit(f"cannot run: {why}")
    from playwright.sync_api import sync_playwright

    out = args.out or Path(tempfile.mkdtemp(prefix="imhi-html-bench-"))
    wall, size = write(args.rows, out)
    print(f"{args.rows} rows: report.html {size / 1e6:.1f} MB, written in {wall:.2f} s ({out / 'report.html'})")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        runs = [open_and_search(browser, out / "report.html") for _ in range(args.repeat)]
        browser.close()
    for key in ("open_s", "search1_ms", "search2_ms", "clear_ms", "filter_ms"):
        values = [r[key] for r in runs]
        print(f"{key:>11}: median {statistics.median(values):8.2f}  (runs: {', '.join(f'{v:.2f}' for v in values)})")
    print(f"search '{SEARCH}': {runs[0]['matches']}")


if __name__ == "__main__":
    main()
