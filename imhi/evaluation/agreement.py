"""Agreement of an answer with its own explanation: does the explanation support the label
the answer states? (An explainable classifier that says "yes" and explains "no" is caught.)

Reads nothing but the rows given (and a classifier folder when one is named); writes nothing.
Each row gains ``explanation_verdicts`` (judge → reading) and ``explanation_agrees`` (True,
False, or None when no judge reached a verdict or the answer stated no label).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from imhi.judges import ClassifierSpec, Judge, RulesSpec, contradicts, describe, make_judges
from imhi.judges.extract import first_sentence
from imhi.tasks import TaskSpec, split_reasoning

NOT_STATED = ("classifier", "unparsed")  # these parse steps did not read a stated label


def explanation_of(answer: str) -> str:
    """The explanation part of an answer: after "Reasoning:", else after the first sentence."""
    head, tail = split_reasoning(answer or "")
    if tail is not None:
        return tail
    return head[len(first_sentence(head)):].strip()


def agreement_judges(classifier: str | None, threshold: float) -> list[Judge]:
    """The rules judge, and the classifier judge where a train-extractor folder is given."""
    specs: list[Any] = [RulesSpec()]
    if classifier:
        specs.append(ClassifierSpec(path=classifier, threshold=threshold))
    return make_judges(specs)


def judge_rows(rows: list[dict[str, Any]], tasks: dict[str, TaskSpec], judges: list[Judge]) -> None:
    """Set ``explanation_verdicts`` and ``explanation_agrees`` on every row, in place."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
    for name, group in by_task.items():
        task = tasks[name]
        texts = [explanation_of(r["prediction"]) for r in group]
        readings = {j.name: j.read(task, texts) for j in judges}
        for i, row in enumerate(group):
            verdicts = {n: v[i] for n, v in readings.items() if v[i] is not None}
            row["explanation_verdicts"] = {n: describe(v) for n, v in verdicts.items()}
            stated = row.get("pred_label") if row.get("parse_status") not in NOT_STATED else None
            if stated is None or not verdicts:
                row["explanation_agrees"] = None
            else:
                row["explanation_agrees"] = not any(contradicts(task, v, stated) for v in verdicts.values())


def agreement(rows: list[dict[str, Any]]) -> dict[str, float | int | None]:
    """Share of judged answers whose explanation supports their stated label, and how many
    answers were judged (``agreement_n``) out of ``n``."""
    judged = [r["explanation_agrees"] for r in rows if r.get("explanation_agrees") is not None]
    return {"agreement": sum(judged) / len(judged) if judged else None, "agreement_n": len(judged)}
