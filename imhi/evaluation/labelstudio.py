"""Label Studio round trip: blinded tasks and a labeling config out, its JSON export back in.

Export writes ``label_studio/tasks.json`` (one task per item: item id, task, post, answer;
the system stays in ``key.json``) and ``label_studio/config.xml`` (post and answer shown,
one ``Choices`` control per aspect with the scale's values: Label Studio's ``Rating`` control
starts at 1). Import reads the JSON export of a project (``exportType=JSON``: tasks with their
``annotations``) and yields rating records (item, system, annotator, aspect, score), the
system read from the key; the annotator is Label Studio's user (``completed_by``).
Cancelled (skipped) annotations are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from imhi.evaluation.ratings import ImportSpec, Where, score_of
from imhi.io import InputError, write_json, write_text

FOLDER = "label_studio"


def labeling_config(aspects: list[str], guide: dict[str, str], scale: tuple[int, int],
                    scale_names: dict[int, str] | None = None) -> str:
    """The labeling config: post and answer as text, each aspect a required single choice on the scale."""
    names = scale_names or {}
    lines = ["<View>", '  <Header value="Post"/>', '  <Text name="post" value="$post"/>',
             '  <Header value="Answer to rate"/>', '  <Text name="response" value="$response"/>']
    for aspect in aspects:
        title = f"{aspect}: {guide[aspect]}" if guide.get(aspect) else aspect
        lines += [f"  <Header value={quoteattr(title)}/>",
                  f'  <Choices name={quoteattr(aspect)} toName="response" choice="single-radio" '
                  'showInline="true" required="true">']
        for value in range(scale[0], scale[1] + 1):
            hint = f" hint={quoteattr(names[value])}" if value in names else ""
            lines.append(f'    <Choice value="{value}"{hint}/>')
        lines.append("  </Choices>")
    return "\n".join([*lines, "</View>"]) + "\n"


def write_project(out_dir: Path, rows: list[dict[str, Any]], config: str) -> Path:
    """``tasks.json`` (Label Studio's import format) and ``config.xml``; returns the tasks path."""
    folder = out_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "config.xml", config)
    write_json(folder / "tasks.json", [{"data": row} for row in rows])
    return folder / "tasks.json"


def annotator_name(completed_by: Any) -> str:
    """Label Studio's user as a name: the e-mail where the export expands it, else the user id."""
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or completed_by.get("id"))
    return str(completed_by)


def _load(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not JSON: {exc.msg} (export the project as JSON)") from exc
    if not isinstance(tasks, list):
        raise InputError(path, "not a Label Studio JSON export (a list of tasks)")
    return tasks


def _target(data: dict[str, Any], key: dict[str, Any] | None, spec: ImportSpec, at: Where) -> dict[str, str]:
    """system, item (the post) and task of one Label Studio task: from the key, else from its data."""
    item = str(data.get("item", data.get(spec.item or "id", "")))
    if key is not None:
        if item not in key:
            raise InputError(at.file, f"unknown item '{item}' (not in the key)", row=at.row, field="data.item")
        entry = key[item]
        return {"system": entry["system"], "item": str(entry["id"]), "task": str(entry.get("task", ""))}
    if spec.system not in data:
        raise InputError(at.file, f"no '{spec.system}' in the task data: give the key (--key key.json)",
                         row=at.row, field=f"data.{spec.system}")
    return {"system": str(data[spec.system]), "item": item, "task": str(data.get("task", ""))}


def _choices(annotation: dict[str, Any]) -> dict[str, list[Any]]:
    return {r["from_name"]: r.get("value", {}).get("choices", []) for r in annotation.get("result", [])
            if r.get("type") == "choices" and "from_name" in r}


def read_export(path: Path, key: dict[str, Any] | None, spec: ImportSpec) -> list[dict[str, Any]]:
    """Rating records from a Label Studio JSON export; every choice checked against the scale."""
    path = Path(path)
    tasks = _load(path)
    live = [[a for a in t.get("annotations", []) if not a.get("was_cancelled")] for t in tasks]
    aspects = spec.aspects or list(dict.fromkeys(name for anns in live for a in anns for name in _choices(a)))
    out: list[dict[str, Any]] = []
    for row, (task, anns) in enumerate(zip(tasks, live, strict=True), start=1):
        target = _target(task.get("data", {}), key, spec, Where(path, row))
        if not anns:
            score_of(None, spec.scale, Where(path, row, "annotations"), spec.allow_missing)  # raises unless allowed
        for ann in anns:
            chosen = _choices(ann)
            for aspect in aspects:
                at = Where(path, row, f"{aspect} (annotation {ann.get('id', '?')})")
                values = chosen.get(aspect) or [None]
                if len(values) != 1:
                    raise InputError(path, f"{len(values)} choices where one is expected", row=row, field=at.field)
                out.append({**target, "annotator": annotator_name(ann.get("completed_by")), "aspect": aspect,
                            "score": score_of(values[0], spec.scale, at, spec.allow_missing)})
    return out
