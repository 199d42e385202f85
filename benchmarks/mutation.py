"""Mutation testing of the core modules with mutmut 3, one module at a time.

Reads ``[tool.mutmut]`` (shared settings) and ``[tool.mutmut.modules]`` (core module -> the
fast tests that cover it) from pyproject.toml; for each module copies the tracked tree into
``.mutation/<module>/`` with a pyproject whose ``[tool.mutmut]`` names only that module and
its tests, runs ``mutmut run`` there (incremental: a rerun tests only changed mutants) and
prints, per module, killed / all mutants (the score), the wall time and the survivors. A module
is tested afresh when any tracked file changed since its last run.
Writes ``.mutation/scores.json``. Usage::

    python benchmarks/mutation.py                      # every core module
    python benchmarks/mutation.py imhi/teacher/limits.py --jobs 1
    python benchmarks/mutation.py imhi/sources.py --show   # diff of each surviving mutant
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    sys.exit("benchmarks/mutation.py needs Python 3.11 or later (tomllib)")

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def _config() -> tuple[dict, dict[str, list[str]]]:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    modules = table.pop("modules")
    return table, modules


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(module: str, shared: dict, tests: list[str]) -> Path:
    """A copy of the tracked (and untracked, not ignored) files with a per-module [tool.mutmut]."""
    folder = WORK / module.replace("/", "_").removesuffix(".py")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        src, dst = ROOT / name, folder / name
        if src.is_file() and (not dst.exists() or dst.read_bytes() != src.read_bytes()):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            stale = folder / "mutants" / name  # mutmut keeps its own copy; refresh it
            if stale.exists() and not name.startswith("imhi/"):
                shutil.copy2(src, stale)
    _forget_if_changed(folder, files)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    head = text[:text.index("[tool.mutmut]")]
    lines = [f"{key} = {_toml_list(value) if isinstance(value, list) else json.dumps(value)}"
             for key, value in shared.items()]
    lines += [f"only_mutate = {_toml_list([module])}", f"pytest_add_cli_args_test_selection = {_toml_list(tests)}"]
    (folder / "pyproject.toml").write_text(head + "[tool.mutmut]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _forget_if_changed(folder: Path, files: list[str]) -> None:
    """mutmut keeps a survivor's verdict while its function is unchanged, even when the tests
    changed: start the module afresh when any tracked file differs from the last run."""
    digest = hashlib.sha256()
    for name in sorted(files):
        if (ROOT / name).is_file():
            digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes())
    stamp = folder / ".tree-sha256"
    if stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return
    shutil.rmtree(folder / "mutants", ignore_errors=True)
    stamp.write_text(digest.hexdigest())


def results(folder: Path) -> dict[str, str]:
    """Mutant name -> status, from ``mutmut results --all true``."""
    out = subprocess.run([MUTMUT, "results", "--all", "true"], cwd=folder, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            found[name] = status
    return found


def run_module(module: str, shared: dict, tests: list[str], jobs: int, show: bool) -> dict:
    folder = prepare(module, shared, tests)
    t0 = time.perf_counter()
    proc = subprocess.run([MUTMUT, "run", "--max-children", str(jobs)], cwd=folder, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        print(f"{module}: mutmut run failed ({proc.returncode})\n  " + "\n  ".join(tail))
        return {"module": module, "error": proc.returncode, "seconds": round(took, 1)}
    found = results(folder)
    survivors = sorted(n for n, s in found.items() if s not in KILLED)
    killed = len(found) - len(survivors)
    score = killed / len(found) if found else float("nan")
    print(f"{module}: {killed}/{len(found)} killed = {score:.0%} in {took:.0f} s ({', '.join(tests)})")
    for name in survivors:
        print(f"  survived: {name} ({found[name]})")
        if show:
            diff = subprocess.run([MUTMUT, "show", name], cwd=folder, capture_output=True, text=True).stdout
            print("    " + "\n    ".join(diff.strip().splitlines()))
    return {"module": module, "killed": killed, "mutants": len(found), "score": round(score, 3),
            "seconds": round(took, 1), "survivors": survivors}


def main() -> None:
    shared, modules = _config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(modules)}")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--show", action="store_true", help="print the diff of each survivor")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in modules]
    if unknown:
        sys.exit(f"error: not a core module in [tool.mutmut.modules]: {', '.join(unknown)}")
    WORK.mkdir(exist_ok=True)
    scores_path = WORK / "scores.json"
    scores = json.loads(scores_path.read_text()) if scores_path.is_file() else {}
    for module in args.modules or list(modules):
        scores[module] = run_module(module, shared, modules[module], args.jobs, args.show)
        scores_path.write_text(json.dumps(scores, indent=1), encoding="utf-8")
    print("\nmodule | killed | mutants | score | seconds")
    for module, s in scores.items():
        print(f"{module} | {s.get('killed', '-')} | {s.get('mutants', '-')} | {s.get('score', '-')} | {s['seconds']}")


if __name__ == "__main__":
    main()
