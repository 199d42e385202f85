"""Audit the rules judge on the IMHI release: how often it reads a verdict from a reference
explanation, and how often that verdict contradicts the released label.

Reads the IMHI release CSVs under DATA (train/, test/, complete/, expert/); prints one line per
file; writes ``--out`` (JSON: the flagged and the unflagged rows) when given.
Run: ``.venv/bin/python benchmarks/judge_audit.py ../shared/data/imhi --out /tmp/audit.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imhi.evaluation.references import read_reference_csv  # noqa: E402
from imhi.judges.rules import conclusion  # noqa: E402
from imhi.judges.verdict import contradicts  # noqa: E402
from imhi.tasks import load_tasks  # noqa: E402

WELLNESS = ("spiritual", "physical", "intellectual", "social", "vocational", "emotional")
FILES = {"DR": ["dr"], "dreaddit": ["dreaddit"], "SAD": ["sad"], "Irf": ["irf_tb", "irf_pb"],
         "MultiWD": [f"multiwd_{d}" for d in WELLNESS]}


def release_files(root: Path) -> list[tuple[str, Path]]:
    """(set name, file) for the train/val splits and the test, complete and expert sets."""
    paths = [(n, root / "train" / n / f"{s}.csv") for n in ("DR", "dreaddit", "SAD") for s in ("train", "val")]
    return paths + [(n, root / kind / f"{n}.csv") for kind in ("test", "complete", "expert") for n in FILES]


def audit(root: Path) -> dict[str, list[Any]]:
    """Judge every reference explanation; print per-file rates; return flagged/unflagged rows."""
    flagged: list[Any] = []
    unflagged: list[Any] = []
    total = verdicts = 0
    for name, path in release_files(root):
        tasks = load_tasks(FILES[name])
        rows = read_reference_csv(path, tasks)
        where, n_flagged, n_verdicts = str(path.relative_to(root)), 0, 0
        for i, row in enumerate(rows, 1):
            task = tasks[row["task"]]
            verdict = conclusion(task, row["explanation"])
            n_verdicts += verdict is not None
            if contradicts(task, verdict, row["label"]):
                n_flagged += 1
                flagged.append((where, i, row["task"], row["label"], verdict.label, verdict.reason,
                                row["explanation"]))
            else:
                unflagged.append((where, i, row["task"], row["label"], verdict.label if verdict else None,
                                  row["explanation"]))
        total, verdicts = total + len(rows), verdicts + n_verdicts
        print(f"{where:28s} rows {len(rows):5d} verdict {n_verdicts / len(rows):6.1%} "
              f"flagged {n_flagged:4d} ({n_flagged / len(rows):.2%})")
    print("total", total, "verdicts", verdicts, "flagged", len(flagged))
    return {"flag": flagged, "unflag": unflagged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="?", default=Path("../shared/data/imhi"))
    parser.add_argument("--out", type=Path, default=None, help="JSON of flagged and unflagged rows")
    args = parser.parse_args()
    result = audit(args.data)
    if args.out:
        args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
