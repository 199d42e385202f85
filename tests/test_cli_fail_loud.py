"""Issue 14 "fail loud", through the real CLI in a subprocess against a real loopback server (or
a port where nothing listens): the teacher endpoint down or failing, retries counted, builds
that keep too little, Batch API chunks within both limits, one config class per teacher kind."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeOpenAI, default_responder

from imhi.io import dump_yaml, read_jsonl

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
       "HF_HUB_OFFLINE": "1"}
ENV.pop("IMHI_NO_PROGRESS", None)  # the status lines are part of what is tested


def posts(path: Path, n: int, task: str = "dr") -> Path:
    """``n`` distinct posts of one task, labels alternating."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"p{i}", "task": task, "label": "yes" if i % 2 else "no",
                                 "text": f"Post {i}: low and tired for weeks, sleep is bad ({i})."}) + "\n")
    return path


def recipe(tmp: Path, n: int, teacher: dict[str, Any], **extra: Any) -> Path:
    """A teacher build of ``n`` generated posts."""
    data = {"name": "t", "mode": "teacher", "prompting": {"k": 1}, "teacher": {"model": "fake", **teacher},
            "sources": [{"name": "s", "format": "jsonl", "path": str(posts(tmp / "posts.jsonl", n)),
                         "columns": {"text": "text", "label": "label", "id": "id", "task": "task"}}],
            **extra}
    path = tmp / "recipe.yaml"
    path.write_text(dump_yaml(data), encoding="utf-8")
    return path


def imhi(*args: str, timeout: float = 300) -> tuple[int, str, str, float]:
    """``python -m imhi.cli ARGS`` in a subprocess (no terminal): code, stdout, stderr, seconds."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "imhi.cli", *args], capture_output=True, text=True,  # noqa: S603
                          env=ENV, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


def free_port() -> int:
    """A port where nothing listens: bound, then closed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


# -- 1: connection failures are not timeouts ------------------------------------------------

@pytest.mark.parametrize("rows", [100, 600])
def test_endpoint_down_fails_fast_in_one_line(tmp_path: Path, rows: int) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, out, err, _ = imhi("build", str(recipe(tmp_path, rows, {"base_url": url})), "--out",
                                str(tmp_path / "run"))
    assert code == 3, err
    assert last_line(err) == (f"error: teacher endpoint {url} refused the connection (5 in a row); nothing "
                              "listens there? (replies already answered are cached: a rerun continues)")
    assert "Traceback" not in err and "✓" not in out + err
    assert not (tmp_path / "run" / "dataset").exists()


def test_endpoint_dying_mid_build_stops_and_a_rerun_continues(tmp_path: Path) -> None:
    """The server starts dropping every connection after 40 answers: the build stops naming the
    cause; the rerun (server healthy again) sends only what was not answered."""
    with FakeOpenAI(latency=0.02) as server:
        path = recipe(tmp_path, 100, {"base_url": server.base_url, "concurrency": 4})

        def break_after(n: int) -> None:
            while server.n_answered < n:
                time.sleep(0.005)
            server.fail_rates = {"drop": 1.0}

        threading.Thread(target=break_after, args=(40,), daemon=True).start()
        code, out, err, _ = imhi("build", str(path), "--out", str(tmp_path / "run"))
        assert code == 3, err
        assert re.fullmatch(rf"error: teacher endpoint {server.base_url} closed the connection without an "
                            r"answer \(5 in a row\); .*a rerun continues\)", last_line(err))
        answered = {json.dumps(b, sort_keys=True) for b in server.answered}
        assert len(answered) >= 40
        server.fail_rates, n_before = {}, len(server.requests)
        code, out, err, _ = imhi("build", str(path), "--out", str(tmp_path / "run"))
        assert code == 0, err
        again = [json.dumps(b, sort_keys=True) for b in server.requests[n_before:]]
        assert len(again) == 100 - len(answered) and not set(again) & answered
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["counts"]["teacher"]["cached"] == len(answered)


# -- 2: live status and an honest report ---------------------------------------------------

def test_retries_show_in_the_status_lines_report_and_manifest(tmp_path: Path) -> None:
    faults = {"Post 7:": ["500"] * 10}  # one row fails every try: a final failure
    with FakeOpenAI(latency=0.05, faults=faults, fail_rates={"429:0": 0.1, "500": 0.1}) as server:
        path = recipe(tmp_path, 200, {"base_url": server.base_url, "concurrency": 8, "retry_min_s": 0.05},
                      status_every_s=0.5)  # 6 retries: another row failing 7 times in a row is 1 in 400
        code, out, err, _ = imhi("build", str(path), "--out", str(tmp_path / "run"))
        served = dict(server.served)
    assert code == 0, err
    lines = [x for x in err.splitlines() if x.startswith("build t: ")]
    assert len(lines) >= 3, err  # ~3 s of work, a line every 0.5 s, and the final one
    pattern = (r"build t: (\d+)/200 rows done, \d+ in flight, (\d+) retried( \(.*\))?, (\d+) failed, (\d+) kept; "
               r"\S+ elapsed, ETA \S+")
    assert all(re.fullmatch(pattern, x) for x in lines), lines
    final = re.fullmatch(pattern, lines[-1])
    assert final and final.group(1) == "200" and final.group(4) == "1" and final.group(5) == "199"
    counts = json.loads((tmp_path / "run" / "manifest.json").read_text())["counts"]["teacher"]
    assert counts["failures"] == {"5xx": 1} and counts["errors"] == 1
    # every fault served was retried except the last of the failing row's 7 tries
    retried = counts["retries_by_cause"]
    assert retried["429"] == served["429:0"] and retried["5xx"] == served["500"] - 1
    assert int(final.group(2)) == counts["retries"] == sum(served.values()) - 1 > 20
    report = (tmp_path / "run" / "build_report.md").read_text()
    assert (f"failed after every retry: 1 (5xx: 1); retries: {counts['retries']} "
            f"(429: {retried['429']}, 5xx: {retried['5xx']})") in report


def test_status_on_a_terminal_is_one_line_refreshed_in_place(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    with FakeOpenAI(latency=0.05) as server:
        path = recipe(tmp_path, 60, {"base_url": server.base_url, "concurrency": 4})
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))
        proc = subprocess.Popen([sys.executable, "-m", "imhi.cli", "build", str(path), "--out",  # noqa: S603
                                 str(tmp_path / "run")], env=ENV, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(120) == 0
        os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert "\r" in text and "rows [" in text and "in flight" in text and "kept" in text
    assert "60/60 rows" in text and text.count("\n") <= 3  # redrawn in place, not one line per update


# -- 3: exit codes mean something -------------------------------------------------------------

def wrong_for(share: float) -> Any:
    """A responder that states the other label for the first ``share`` of the posts."""
    def respond(messages: list[dict[str, str]]) -> str:
        last = messages[-1]["content"]
        found = re.search(r"Post (\d+):", last)
        if found and int(found.group(1)) < share * 100:
            flip = "No, the poster does not suffer from depression." if "answer is: Yes" in last else \
                "Yes, the poster suffers from depression."
            return f"{flip} Reasoning: the post talks about sleep and work in some detail ({found.group(1)})."
        return default_responder(messages)
    return respond


@pytest.mark.parametrize(("share", "overrides", "expect"), [
    (1.0, [], 4), (0.6, [], 4), (0.6, ["min_kept=0.3"], 0)])
def test_too_few_rows_kept_is_a_warning_and_exit_4(tmp_path: Path, share: float, overrides: list[str],
                                                    expect: int) -> None:
    with FakeOpenAI(responder=wrong_for(share)) as server:
        path = recipe(tmp_path, 100, {"base_url": server.base_url}, filters={"regenerations": 0})
        code, out, err, _ = imhi("build", str(path), *overrides, "--out", str(tmp_path / "run"))
    assert code == expect, err
    assert (tmp_path / "run" / "build_report.md").is_file()  # written either way: the reasons are there
    if expect:
        kept = round(100 * (1 - share))
        assert re.fullmatch(rf"warning: kept {kept} of 100 rows \({kept}%\), below min_kept 50%; dropped: "
                            rf"correctness {100 - kept} \(see .*build_report.md and rejected.jsonl\)",
                            last_line(err)), err
        assert "✓" not in out + err
    else:
        assert "✓ dataset written" in out


def test_eval_of_a_model_without_answers_is_exit_4_and_a_down_endpoint_exit_3(tmp_path: Path) -> None:
    pairs = tmp_path / "test.jsonl"
    pairs.write_text("".join(json.dumps({"id": f"q{i}", "task": "dr", "label": "yes", "query": f"Post {i}?",
                                         "answer": "Yes, the poster suffers from depression."}) + "\n"
                             for i in range(5)), encoding="utf-8")
    with FakeOpenAI(fail_rates={"empty": 1.0}) as server:
        spec = {"name": "t", "out": str(tmp_path / "run"), "metrics": {"n_boot": 10},
                "test_sets": [{"name": "dr", "path": str(pairs), "format": "pairs"}],
                "models": [{"name": "mute", "endpoint": {"model": "m", "base_url": server.base_url,
                                                         "max_retries": 0}}]}
        (tmp_path / "eval.yaml").write_text(dump_yaml(spec), encoding="utf-8")
        code, out, err, _ = imhi("eval", str(tmp_path / "eval.yaml"))
    assert code == 4, err
    assert re.fullmatch(r"warning: no answers from 1 of 1 models on 5 test rows: mute \(.*generations.jsonl\)",
                        last_line(err)), err
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, out, err, _ = imhi("eval", str(tmp_path / "eval.yaml"), f"models.0.endpoint.base_url={url}")
    assert code == 3 and last_line(err).startswith(f"error: teacher endpoint {url} refused the connection"), err


def test_train_stage_without_rows_is_exit_4(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    row = {"id": "a", "source": "s", "task": "dr", "text": "t", "label": "yes", "query": "q?",
           "answer": "Yes.", "explanation": "e",
           "messages": [{"role": "user", "content": "q?"}, {"role": "assistant", "content": "Yes."}]}
    (data / "train.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    spec = {"name": "t", "output_root": str(tmp_path / "runs"), "model": {"path": "smollm2"},
            "stages": [{"name": "stress", "data": [{"path": str(data), "tasks": ["dreaddit"]}]}]}
    (tmp_path / "train.yaml").write_text(dump_yaml(spec), encoding="utf-8")
    code, out, err, _ = imhi("train", str(tmp_path / "train.yaml"), "--no-eval")
    assert code == 4, err
    assert re.fullmatch(rf"warning: stage stress has no train rows to learn from \(data: {data} \(tasks "
                        r"\['dreaddit'\]\)\); nothing was trained", last_line(err)), err


def test_exit_codes_are_in_the_help_and_the_readme() -> None:
    for verb in ([], ["build"], ["eval"], ["train"]):
        code, out, _, _ = imhi(*verb, "--help")
        text = " ".join(out.replace("│", " ").split())
        assert code == 0 and "Exit codes: 0 done;" in text and "4 finished with too little" in text, out
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "| exit code |" in readme and "| 3 |" in readme and "| 4 |" in readme


# -- 9: Batch API chunks within both limits ---------------------------------------------------

def batch_teacher(server: FakeOpenAI, **kw: Any) -> dict[str, Any]:
    return {"kind": "batch", "base_url": server.base_url, "batch_poll_s": 0.05, "max_retries": 0, **kw}


def test_batch_build_splits_requests_by_size(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        server.max_file_bytes = 6_000  # the provider's file limit, shrunk
        path = recipe(tmp_path, 30, batch_teacher(server, batch_max_bytes=6_000))
        code, out, err, _ = imhi("build", str(path), "--out", str(tmp_path / "run"))
        uploads = list(server.uploaded)
    assert code == 0, err
    inputs = uploads[::2]  # each chunk: its input file, then its output file
    assert len(inputs) >= 4 and all(n <= 6_000 for n in inputs) and sum(inputs) > 6_000 * 3
    kept = [r for s in ("train", "valid", "test") for r in read_jsonl(tmp_path / "run" / "dataset" / f"{s}.jsonl")]
    assert len(kept) == 30


def test_batch_refused_upload_and_failed_batch_stop_in_one_line(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        server.max_file_bytes = 6_000  # ... but the recipe keeps the default limit
        path = recipe(tmp_path, 30, batch_teacher(server))
        code, _, err, _ = imhi("build", str(path), "--out", str(tmp_path / "run"))
        assert code == 3, err
        assert re.fullmatch(rf"error: teacher endpoint {server.base_url}: the upload of batch chunk 1/1 \(30 "
                            r"requests, [\d,]+ bytes, id \w+\) refused \(HTTP 400: .*exceeds the 6000 bytes "
                            r"limit.*\)", last_line(err)), err
        server.max_file_bytes, server.fail_batches = None, 1
        code, _, err, _ = imhi("build", str(path), "--out", str(tmp_path / "run"))
        assert code == 3, err
        assert re.fullmatch(rf"error: teacher endpoint {server.base_url}: batch chunk 1/1 \(30 requests, .*\): "
                            r"batch batch-0 failed: the input file is invalid; 0 of 30 replies kept, a rerun "
                            r"sends the rest in a new batch", last_line(err)), err
        code, out, err, _ = imhi("build", str(path), "--out", str(tmp_path / "run"))
        assert code == 0 and "✓" in out, err


# -- 11: one config class per teacher kind ----------------------------------------------------

def test_a_setting_of_another_teacher_kind_is_a_recipe_error(tmp_path: Path) -> None:
    path = recipe(tmp_path, 4, {"base_url": "http://127.0.0.1:9/v1", "concurrency": 4})
    code, _, err, _ = imhi("build", str(path), "teacher.kind=batch")
    assert code == 2
    assert "'concurrency' is a setting of teacher kind openai, not of kind 'batch'" in err
    code, _, err, _ = imhi("build", str(path), "filters.judge=[{kind: llm, teacher: {kind: local, base_url: x}}]")
    assert code == 2 and "'base_url' is a setting of teacher kind openai / batch, not of kind 'local'" in err
    code, _, err, _ = imhi("check")
    assert code == 0, err


def test_no_module_outside_the_teacher_package_compares_teacher_kinds() -> None:
    compare = re.compile(r"""(teacher|endpoint)\S*\.kind\s*[!=]=|kind\s*[!=]=\s*["'](openai|batch|local)["']""")
    found = [f"{p.relative_to(REPO)}:{i}" for p in (REPO / "imhi").rglob("*.py") if "teacher" not in p.parts
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if compare.search(line)]
    assert found == []
