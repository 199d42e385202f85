"""Teacher throughput: a teacher build against a loopback OpenAI-compatible server with a
fixed reply latency, beside the ideal (concurrency ÷ latency) and a sequential loop.

Starts tests/fakeserver.py in a subprocess; writes only under a temporary folder (or
--work). Measures, with the whole pipeline in the loop (prompting, cache, parsing,
filters, dataset writing):
  2,000 rows at concurrency 16 and 64, 200 rows at concurrency 1 (defaults: the openai client
  on its aiohttp transport in a sender process (2 at 64 on more than 2 cores), first requests
  ramped up over 0.2 s); at 64 also without the ramp-up, with 2 sender processes, with the
  client in this process (sender: inline) and on httpx, and a hand-written AsyncOpenAI +
  semaphore loop in a fresh interpreter, each --repeats times interleaved (medians);
  the 2,000-row build again with a warm cache (requests sent: 0);
  with 100 rows added (exactly 100 sent);
  with one task's prompt edited (only that task's rows sent).
Run: ``.venv/bin/python benchmarks/teacher_throughput.py [--rows 2000] [--latency 0.2] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
os.environ["IMHI_NO_PROGRESS"] = "1"

from fakeserver import spawn  # noqa: E402

from imhi.config import validate_data  # noqa: E402
from imhi.io import dump_yaml, load_yaml, write_jsonl, write_text  # noqa: E402
from imhi.synthesis.pipeline import run_teacher  # noqa: E402
from imhi.synthesis.recipe import BuildRecipe  # noqa: E402

WORDS = ["tired", "sleep", "work", "friends", "family", "exam", "rent", "lonely", "anxious",
         "hopeful", "music", "walk", "deadline", "doctor", "money", "school", "party", "sister",
         "brother", "coffee", "rain", "weekend"]
LABELS = {"dr": ["yes", "no"], "dreaddit": ["yes", "no"]}


def make_posts(path: Path, n: int, start: int = 0) -> None:
    """n invented posts over two tasks (the server does not read them)."""
    rows = []
    for i in range(start, start + n):
        task = "dr" if i % 2 == 0 else "dreaddit"
        words = " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(40))
        rows.append({"id": f"p{i:06d}", "task": task, "text": f"Post number {i}: {words}.",
                     "label": LABELS[task][i % 4 // 2], "split": "train"})
    write_jsonl(path, rows)


def start_server(latency: float, work: Path, lean: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    return spawn(latency, work / "port", lean)


def server_requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/stats") as resp:  # noqa: S310 - loopback only
        return int(json.load(resp)["requests"])


def recipe(url: str, posts: Path, concurrency: int, prompts: Path, name: str,
           http_client: str = "aiohttp", sender: str = "process",
           processes: int | None = None, ramp: float | None = None) -> BuildRecipe:
    data: dict[str, Any] = {
        "name": name, "mode": "teacher", "prompts_dir": str(prompts),
        "sources": [{"name": "bench", "format": "jsonl", "path": str(posts),
                     "columns": {"text": "text", "label": "label", "id": "id", "task": "task",
                                 "split": "split"}}],
        "teacher": {"model": "fake", "base_url": f"{url}/v1", "concurrency": concurrency,
                    "max_tokens": 128, "http_client": http_client, "sender": sender,
                    "sender_processes": processes,
                    **({} if ramp is None else {"ramp_up_s": ramp})},
        "prompting": {"k": 1},
        # the judge is a second request per row: off here so rows = requests
        "filters": {"use": ["empty", "truncated", "no_reasoning", "correctness", "hedge",
                            "prompt_echo", "example_reference", "length", "exact_duplicate",
                            "near_duplicate"]},
    }
    return validate_data(data, BuildRecipe, "benchmark")


def timed_build(url: str, spec: BuildRecipe, run: Path) -> dict[str, Any]:
    sent0 = server_requests(url)
    t0 = time.perf_counter()
    run_teacher(spec, run, run)
    wall = time.perf_counter() - t0
    manifest = json.loads((run / "manifest.json").read_text())
    synth = manifest["timings_s"]["synthesis"]
    return {"sent": server_requests(url) - sent0, "wall_s": round(wall, 2),
            "synth_s": round(synth, 2), "kept": sum(manifest["counts"]["pairs"].values())}


def sequential(url: str, n: int) -> float:
    """A plain for-loop over the synchronous openai client: requests/s."""
    import openai

    client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)
    t0 = time.perf_counter()
    for i in range(n):
        client.chat.completions.create(model="fake", messages=[
            {"role": "user", "content": f"sequential {i} correct answer is: Yes."}], max_tokens=128)
    return n / (time.perf_counter() - t0)


def raw_loop_fresh(url: str, posts: Path, conc: int, lat: float, aiohttp: bool = False) -> dict[str, Any]:
    """``raw_loop`` in a fresh interpreter, as a user's script would run it (this process has
    built datasets by now: its larger heap makes GC pauses that would slow the loop)."""
    args = [sys.executable, __file__, "--raw", url, str(posts), str(conc), str(lat)]
    args += ["--aiohttp"] if aiohttp else []
    return dict(json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout))


def raw_loop(url: str, posts: Path, conc: int, lat: float, aiohttp: bool = False) -> dict[str, Any]:
    """The reference: a hand-written AsyncOpenAI + semaphore loop over the same prompts
    (no cache, parsing, filters or writing), on the SDK's default httpx transport or aiohttp."""
    import asyncio

    import openai

    from imhi.io import read_jsonl
    from imhi.prompting import PromptConfig, build_messages, select_shots
    from imhi.tasks import load_task

    cfg = PromptConfig(k=1)
    requests = []
    for row in read_jsonl(posts):
        task = load_task(row["task"])
        requests.append(build_messages(task, row["text"], row["label"],
                                       select_shots(task, task.examples, 1, 0), cfg))

    async def run() -> float:
        http = openai.DefaultAioHttpClient() if aiohttp else None
        client = openai.AsyncOpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0, http_client=http)
        sem = asyncio.Semaphore(conc)

        async def one(msgs: list[dict[str, str]]) -> None:
            async with sem:
                await client.chat.completions.create(model="fake-raw", messages=msgs, max_tokens=128)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(m) for m in requests))
        took = time.perf_counter() - t0
        await client.close()
        return took

    took = asyncio.run(run())
    rps = len(requests) / took
    return {"rows": len(requests), "wall_s": round(took, 2), "rps": round(rps, 1),
            "pct_of_ideal": round(100 * rps / (conc / lat), 1)}


def main() -> None:
    if sys.argv[1:2] == ["--raw"]:
        url, posts, conc, lat = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        print(json.dumps(raw_loop(url, posts, conc, lat, aiohttp="--aiohttp" in sys.argv)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--repeats", type=int, default=3, help="c64 builds and loops per variant (median)")
    ap.add_argument("--server", choices=["aiohttp", "lean"], default="aiohttp",
                    help="the loopback endpoint: tests/fakeserver.py's aiohttp server (what the tests use), "
                         "or its bare-protocol chat server, which takes less of the shared CPU")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="imhi-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    server, url = start_server(args.latency, work, lean=args.server == "lean")
    try:
        report = {"server": args.server, **run_all(url, work, args.rows, args.latency, args.repeats)}
    finally:
        server.kill()
    write_text(work / "results.json", json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def _throughput(url: str, work: Path, rows: int, conc: int, lat: float, prompts: Path,
                http_client: str = "aiohttp", sender: str = "process", processes: int | None = None,
                ramp: float | None = None, tag: str = "") -> dict[str, Any]:
    posts = work / f"posts-{rows}-{conc}.jsonl"
    make_posts(posts, rows)
    name = f"c{conc}{tag}"
    shutil.rmtree(work / f"run-{name}", ignore_errors=True)  # a cold cache each time
    res = timed_build(url, recipe(url, posts, conc, prompts, name, http_client, sender, processes, ramp),
                      work / f"run-{name}")
    ideal = conc / lat
    res.update(concurrency=conc, rows=rows, ideal_rps=ideal, http_client=http_client, sender=sender,
               sender_processes=processes, ramp_up_s=ramp,
               pipeline_rps=round(res["sent"] / res["synth_s"], 1),
               build_rps=round(res["sent"] / res["wall_s"], 1))
    res["pipeline_pct_of_ideal"] = round(100 * res["pipeline_rps"] / ideal, 1)
    res["build_pct_of_ideal"] = round(100 * res["build_rps"] / ideal, 1)
    return res


def _median(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median ``key`` (all runs' values listed beside it)."""
    ranked = sorted(runs, key=lambda r: r[key])
    return {**ranked[len(ranked) // 2], f"{key}_runs": [r[key] for r in runs]}


def run_all(url: str, work: Path, rows: int, lat: float, repeats: int = 3) -> dict[str, Any]:
    prompts = work / "prompts"
    shutil.copytree(REPO / "prompts", prompts, dirs_exist_ok=True)
    out: dict[str, Any] = {"latency_s": lat, "sequential_rps": round(sequential(url, 25), 2)}
    out["c1"] = _throughput(url, work, max(1, rows // 10), 1, lat, prompts)
    out["c16"] = _throughput(url, work, rows, 16, lat, prompts)
    posts64 = work / f"posts-{rows}-64.jsonl"
    variants = {"c64": {}, "c64_no_ramp_up": {"ramp": 0.0, "tag": "-r0"},
                "c64_2_senders": {"processes": 2, "tag": "-p2"},
                "c64_inline": {"sender": "inline", "tag": "-inline"},
                "c64_httpx": {"http_client": "httpx", "tag": "-httpx"}}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in [*variants, "raw_httpx", "raw_aiohttp"]}
    for _ in range(repeats):  # interleaved, so a noisy minute touches every variant alike
        for name, kw in variants.items():
            runs[name].append(_throughput(url, work, rows, 64, lat, prompts, **kw))
        runs["raw_httpx"].append(raw_loop_fresh(url, posts64, 64, lat))
        runs["raw_aiohttp"].append(raw_loop_fresh(url, posts64, 64, lat, aiohttp=True))
    for name in variants:
        out[name] = _median(runs[name], "pipeline_pct_of_ideal")
    out["raw_asyncopenai_semaphore_c64"] = _median(runs["raw_httpx"], "pct_of_ideal")
    out["raw_asyncopenai_semaphore_c64_aiohttp"] = _median(runs["raw_aiohttp"], "pct_of_ideal")
    spec = recipe(url, posts64, 64, prompts, "c64")
    out["warm_cache"] = timed_build(url, spec, work / "run-c64")
    make_posts(work / "posts-plus.jsonl", rows + 100)
    out["plus_100_rows"] = timed_build(url, recipe(url, work / "posts-plus.jsonl", 64, prompts, "c64"),
                                       work / "run-c64")
    edited = work / "prompts-edited"  # a new folder: task specs are cached per prompts root
    shutil.copytree(prompts, edited)
    task = load_yaml(edited / "dr" / "task.yaml")
    task["system_prompt"] += " Be specific."
    write_text(edited / "dr" / "task.yaml", dump_yaml(task))
    out["dr_prompt_edited"] = timed_build(
        url, recipe(url, work / "posts-plus.jsonl", 64, edited, "c64"), work / "run-c64")
    out["dr_prompt_edited"]["dr_rows"] = (rows + 100 + 1) // 2
    return out


if __name__ == "__main__":
    main()
