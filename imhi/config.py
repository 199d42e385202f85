"""Strict recipe loading, ``key.sub=value`` overrides, and run-folder manifests.

Reads recipe YAML files; writes ``manifest.json`` into run folders. Every recipe
model derives from :class:`Strict` (pydantic v2, ``extra="forbid"``), so a
misspelled key is an error that names the key and the file.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from imhi.io import InputError, load_yaml, sha256_file, write_json
from imhi.logs import log_to

M = TypeVar("M", bound=BaseModel)

TRACKED_PACKAGES = (
    "imhi", "torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "openai",
    "evaluate", "bert-score", "pandas", "pydantic", "scikit-learn", "accelerate",
)


class Strict(BaseModel):
    """Base for every recipe section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def unknown_name(what: str, name: str, known: list[str] | tuple[str, ...], show_known: bool = True) -> str:
    """The one message for a name no registry knows: the known ones (unless there are too many to
    list, ``show_known=False``) and the closest match."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    listing = f" (known: {', '.join(known)})" if show_known else ""
    return f"unknown {what} '{name}'{listing}{hint}"


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: dotted location, message (and the offending input)."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelled?)"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value``; the value is parsed as YAML (numbers, bools, lists)."""
    if "=" not in text:
        raise ValueError(f"override '{text}' must look like key.sub=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ValueError(f"override '{text}' has an empty key")
    return parts, yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides in order; list items are addressed by index."""
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = data
        for part in parts[:-1]:
            node = _child(node, part, text)
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def _child(node: Any, part: str, text: str) -> Any:
    if isinstance(node, list):
        try:
            return node[int(part)]
        except (ValueError, IndexError) as exc:
            raise ValueError(f"override '{text}': no list item '{part}'") from exc
    if not isinstance(node, dict):
        raise ValueError(f"override '{text}': '{part}' is not a mapping")
    return node.setdefault(part, {})


def validate_data(data: Any, model: type[M], where: str | Path) -> M:
    """Validate plain data against a recipe model; errors name the file and keys."""
    if not isinstance(data, dict):
        raise InputError(where, "the top level must be a mapping of keys")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(where, "invalid settings:\n" + format_validation_error(exc)) from None


def load_recipe(path: str | Path, model: type[M], overrides: list[str] | None = None) -> M:
    """Load a YAML recipe strictly, apply overrides, validate against ``model``."""
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise InputError(path, "the top level must be a mapping of keys")
    try:
        data = apply_overrides(data, list(overrides or []))
    except ValueError as exc:
        raise InputError(path, str(exc)) from None
    return validate_data(data, model, path)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape results (missing ones omitted)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


class Manifest:
    """Collects what a run read, wrote and how long it took; saved as manifest.json."""

    def __init__(self, run_dir: str | Path, stage: str, config: BaseModel | dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        log_to(self.run_dir)  # third-party warnings of this run go to <run>/imhi.log
        self.stage = stage
        self.config = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
        self.inputs: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self._t0 = time.perf_counter()
        self._started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self._earlier: list[dict[str, Any]] | None = None  # runs of this folder before this one

    def add_input(self, path: str | Path, rows: int | None = None) -> None:
        """Record an input file with its sha256 (a folder is recorded by path only)."""
        p = Path(path)
        entry: dict[str, Any] = {"path": str(p)}
        if p.is_file():
            entry["sha256"] = sha256_file(p)
        if rows is not None:
            entry["rows"] = rows
        self.inputs[str(p)] = entry

    def add_output(self, path: str | Path, rows: int | None = None) -> None:
        """Record an output file (relative to the run folder where possible)."""
        p = Path(path)
        key = str(p.relative_to(self.run_dir)) if p.is_relative_to(self.run_dir) else str(p)
        entry: dict[str, Any] = {"sha256": sha256_file(p)} if p.is_file() else {}
        if rows is not None:
            entry["rows"] = rows
        self.outputs[key] = entry

    def time(self, name: str, seconds: float) -> None:
        """Add a named timing in seconds."""
        self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 3)

    def write(self) -> Path:
        """Write manifest.json into the run folder and return its path. A rerun keeps the earlier
        runs' timings and counts: ``history`` lists every run of this folder, oldest first, this
        one last."""
        self.timings["total"] = round(time.perf_counter() - self._t0, 3)
        path = self.run_dir / "manifest.json"
        this = {"started": self._started, "command": " ".join(sys.argv), "counts": self.counts,
                "timings_s": self.timings}
        write_json(path, {
            "stage": self.stage,
            "started": self._started,
            "command": " ".join(sys.argv),
            "config": self.config,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "counts": self.counts,
            "timings_s": self.timings,
            "packages": package_versions(),
            "platform": platform.platform(),
            "history": [*self._earlier_runs(path), this],
        })
        return path

    def _earlier_runs(self, path: Path) -> list[dict[str, Any]]:
        """The history found at the first write (a run writing twice is listed once)."""
        if self._earlier is None:
            self._earlier = _history(path)
        return self._earlier


def _history(path: Path) -> list[dict[str, Any]]:
    """The runs recorded in an earlier ``manifest.json`` (one without history counts as one run)."""
    if not path.is_file():
        return []
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    if not isinstance(old, dict):
        return []
    if isinstance(old.get("history"), list):
        return old["history"]
    return [{k: old.get(k) for k in ("started", "command", "counts", "timings_s")}]
