"""Label Studio round trip: the export's tasks and config, reading its JSON export, and a real
server (installed into .ls-venv by scripts/label_studio.sh; skipped where it cannot be installed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imhi.evaluation.ratings import ImportSpec
from imhi.evaluation.sheets import ASPECTS, SheetConfig, export_sheet
from imhi.evaluation.study import load_study
from imhi.io import InputError, write_jsonl

REPO = Path(__file__).resolve().parents[1]
TOKEN = "imhi0test0token0for0a0local0server0only"  # noqa: S105 - a throwaway server on 127.0.0.1
ANNOTATORS = ("ann1@example.com", "ann2@example.com", "ann3@example.com")


def _system(path: Path, name: str, posts: range) -> Path:
    write_jsonl(path, [{"id": f"{t}-{i}", "task": t, "query": f"Post {i}: I can't sleep before exams.",
                        "label": "yes" if i % 2 else "no", "prediction": f"Answer {i}, version {len(name)}."}
                       for t in ("dr", "dreaddit") for i in posts])
    return path


@pytest.fixture()
def exported(tmp_path: Path) -> Path:
    systems = {"base": _system(tmp_path / "a.jsonl", "base", range(4)),
               "tuned": _system(tmp_path / "b.jsonl", "tuned", range(2, 6))}
    export_sheet(systems, tmp_path / "sheet", SheetConfig(per_task=6, seed=3, format="label-studio"))
    return tmp_path / "sheet"


def test_export_writes_blinded_tasks_and_a_zero_based_config(exported: Path) -> None:
    tasks = json.loads((exported / "label_studio" / "tasks.json").read_text())
    key = json.loads((exported / "key.json").read_text())
    assert sorted(t["data"]["item"] for t in tasks) == sorted(key)
    assert all(set(t["data"]) == {"item", "task", "post", "response"} for t in tasks)
    assert "base" not in json.dumps(tasks) and "tuned" not in json.dumps(tasks)
    view = ET.fromstring((exported / "label_studio" / "config.xml").read_text())  # noqa: S314 - our own file
    choices = view.findall("Choices")
    assert [c.get("name") for c in choices] == list(ASPECTS)
    assert all([x.get("value") for x in c.findall("Choice")] == ["0", "1", "2", "3"] for c in choices)
    assert {t.get("value") for t in view.findall("Text")} == {"$post", "$response"}


def _annotation(aspects: dict[str, object], who: object, cancelled: bool = False) -> dict[str, object]:
    result = [{"from_name": a, "to_name": "response", "type": "choices", "value": {"choices": [str(v)]}}
              for a, v in aspects.items()]
    return {"id": 7, "completed_by": who, "result": result, "was_cancelled": cancelled}


def test_reading_an_export_checks_every_choice(exported: Path, tmp_path: Path) -> None:
    key = json.loads((exported / "key.json").read_text())
    items = sorted(key)
    tasks = [{"id": n, "data": {"item": item}, "annotations": [
        _annotation(dict.fromkeys(ASPECTS, 2), 1), _annotation(dict.fromkeys(ASPECTS, 3), {"id": 2, "email": "b@x"}),
        _annotation(dict.fromkeys(ASPECTS, 0), 3, cancelled=True)]} for n, item in enumerate(items, start=1)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    ratings = load_study([str(path)], key=exported / "key.json")
    assert set(ratings.frame["annotator"]) == {"1", "b@x"} and ratings.frame["score"].mean() == 2.5
    assert set(ratings.frame["system"]) == {"base", "tuned"}
    tasks[1]["annotations"][0]["result"][2]["value"]["choices"] = ["5"]
    path.write_text(json.dumps(tasks))
    with pytest.raises(InputError, match=r"export.json, row 2, field 'reliability \(annotation 7\)': '5'"):
        load_study([str(path)], key=exported / "key.json")
    tasks[1]["annotations"] = []
    path.write_text(json.dumps(tasks))
    with pytest.raises(InputError, match=r"row 2, field 'annotations': missing rating"):
        load_study([str(path)], key=exported / "key.json")
    assert len(load_study([str(path)], key=exported / "key.json", spec=ImportSpec(allow_missing=True)).frame) \
        == 2 * 4 * (len(items) - 1)


@pytest.fixture(scope="session")
def label_studio_exe() -> Path:
    """The label-studio executable of .ls-venv, set up by scripts/label_studio.sh on first use."""
    try:
        done = subprocess.run(["bash", str(REPO / "scripts" / "label_studio.sh")], capture_output=True, text=True,
                              timeout=900, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("Label Studio could not be installed within 15 minutes (scripts/label_studio.sh)")
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"Label Studio could not be installed by scripts/label_studio.sh (no package registry?): {why}")
    return Path(done.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(label_studio_exe: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    """A fresh Label Studio on 127.0.0.1 with a temporary data folder; an API client with the owner's token."""
    port, data = _free_port(), tmp_path / "ls-data"
    data.mkdir()
    log = (tmp_path / "label_studio.log").open("w")
    proc = subprocess.Popen(
        [str(label_studio_exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data), "--username", "lead@example.com", "--password", "imhi-local-only",
         "--user-token", TOKEN, "--enable-legacy-api-token"],
        env={**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Token {TOKEN}"},
                          timeout=60)
    try:
        _wait(client, proc, tmp_path / "label_studio.log")
        yield client
    finally:
        client.close()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _wait(client: httpx.Client, proc: subprocess.Popen, log: Path, limit: float = 420) -> None:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if proc.poll() is not None:
            pytest.fail(f"Label Studio exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if client.get("/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"Label Studio did not answer within {limit:.0f} s: {log.read_text()[-2000:]}")


def _ok(response: httpx.Response) -> object:
    assert response.status_code in (200, 201), f"{response.request.url}: {response.status_code} {response.text[:300]}"
    return response.json()


def _score(item: str, aspect: str, who: int, key: dict) -> int:
    n = int(item.split("-")[1])
    return min(3, (2 if key[item]["system"] == "tuned" else 1) + (n + who + ASPECTS.index(aspect)) % 3 // 2)


@pytest.mark.slow
def test_round_trip_through_a_real_label_studio(server: httpx.Client, cli, tmp_path: Path) -> None:
    t0 = time.monotonic()
    systems = [f"base={_system(tmp_path / 'a.jsonl', 'base', range(4))}",
               f"tuned={_system(tmp_path / 'b.jsonl', 'tuned', range(2, 6))}"]
    code, _, err = cli("sheet", "export", *systems, "--format", "label-studio", "--per-task", "6",
                       "--out", str(tmp_path / "sheet"))
    assert code == 0, err
    folder = tmp_path / "sheet" / "label_studio"
    key = json.loads((tmp_path / "sheet" / "key.json").read_text())
    users = [_ok(server.post("/api/users/", json={"email": e, "username": e.split("@")[0]}))["id"]
             for e in ANNOTATORS]
    project = _ok(server.post("/api/projects", json={"title": "imhi human evaluation",
                                                     "label_config": (folder / "config.xml").read_text()}))["id"]
    _ok(server.post(f"/api/projects/{project}/import", json=json.loads((folder / "tasks.json").read_text())))
    tasks = _ok(server.get("/api/tasks", params={"project": project, "page_size": 1000}))["tasks"]
    assert len(tasks) == len(key)
    for task in tasks:
        item = task["data"]["item"]
        for who, user in enumerate(users, start=1):
            if who == 3 and item.endswith(("1", "2")):
                continue  # the third annotator rated a subset
            result = [{"from_name": a, "to_name": "response", "type": "choices",
                       "value": {"choices": [str(_score(item, a, who, key))]}} for a in ASPECTS]
            _ok(server.post(f"/api/tasks/{task['id']}/annotations", json={"result": result, "completed_by": user}))
    export = server.get(f"/api/projects/{project}/export", params={"exportType": "JSON"})
    (tmp_path / "export.json").write_bytes(export.content)
    t1 = time.monotonic()
    code, out, err = cli("sheet", "import", str(tmp_path / "export.json"), "--format", "label-studio",
                         "--key", str(tmp_path / "sheet" / "key.json"), "--out", str(tmp_path / "study"))
    assert code == 0, err
    code, out, err = cli("sheet", "score", str(tmp_path / "study" / "ratings.csv"), "--out", str(tmp_path / "score"),
                         "--bootstrap", "100")
    assert code == 0, err
    res = json.loads((tmp_path / "score" / "human_eval.json").read_text())
    by_id = {str(u): who for who, u in enumerate(users, start=1)}
    assert set(res["annotators"]) == set(by_id)
    for system in ("base", "tuned"):
        for aspect in ASPECTS:
            vals = [_score(i, aspect, who, key) for i, v in key.items() if v["system"] == system
                    for who in (1, 2, 3) if not (who == 3 and i.endswith(("1", "2")))]
            assert res["means"][system][aspect] == pytest.approx(sum(vals) / len(vals))
    assert res["agreement"]["overall"]["alpha"] is not None
    print(f"\nLabel Studio round trip: API {t1 - t0:.1f} s, import + score {time.monotonic() - t1:.1f} s")
