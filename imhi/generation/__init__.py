"""Generation: a model (+ adapter) or an OpenAI-compatible endpoint answers every query.

Reads an instruction-pair JSONL file (``imhi build`` output: id, task, query, answer,
label, messages; an eval test row may carry ``prompt``, its rendered chat messages); writes
``generations.jsonl`` with one row per pair:
``{id, task, query, label, answer, prediction, model, prompt, request_key}`` (``prompt``: the
messages sent; ``test_set``, ``template`` and ``strict_steps`` passed through). The output is appended row by
row, so an interrupted run keeps its rows and a rerun skips rows already answered for the same
request (:mod:`.reuse`: a changed prompt or decoding setting answers that row again). Beside it,
``<stem>.model.json`` fingerprints the model that wrote them (base, quantisation, adapter
file hashes, endpoint): when the model changed (a retrained adapter), the old answers are
moved to ``<stem>.stale-N.jsonl`` and every row is answered again, never mixed.
torch/transformers/peft are imported lazily (only for the local path).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import model_validator
from rich import get_console
from rich.progress import Progress

from imhi.config import Strict
from imhi.generation.reuse import request_key, retire_changed, stale_path
from imhi.io import InputError, append_jsonl, read_jsonl, read_jsonl_tolerant, sha256_file
from imhi.lengths import DEFAULT_MAX_POST_TOKENS, MaxPostTokens, apply_limit
from imhi.models import ModelRef, check_model_path, load_causal_lm, load_tokenizer
from imhi.teacher import TeacherConfig, make_teacher

REQUIRED = ("id", "task", "query")
PASSED = ("test_set", "template", "strict_steps")  # test-row fields copied into each answer row


class GenerationConfig(Strict):
    """What answers the queries: a local model (+ optional PEFT adapter) or an endpoint."""

    model: ModelRef | None = None
    adapter: str | None = None
    endpoint: TeacherConfig | None = None
    batch_size: int = 8
    max_new_tokens: int = 256
    sort_by_length: bool = True
    limit: int | None = None
    system_prompt: str | None = None
    name: str | None = None  # the model name written into each row (default: path/adapter)
    max_post_tokens: MaxPostTokens = DEFAULT_MAX_POST_TOKENS  # longer posts are shortened in the query

    @model_validator(mode="after")
    def _one_source(self) -> GenerationConfig:
        if (self.model is None) == (self.endpoint is None):
            raise ValueError("give exactly one of `model` (local) or `endpoint` (OpenAI-compatible)")
        if self.adapter and self.model is None:
            raise ValueError("`adapter` needs a local `model`")
        return self

    def model_name(self) -> str:
        """The name recorded in the ``model`` column."""
        if self.name:
            return self.name
        if self.model is not None:
            return self.model.path + (f"+{self.adapter}" if self.adapter else "")
        return self.endpoint.model if self.endpoint else "endpoint"


@dataclass
class GenStats:
    """Counters of one generation run (for benchmarks and manifests)."""

    rows: int = 0
    new_tokens: int = 0
    seconds: float = 0.0
    batches: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def check_models(cfg: GenerationConfig, prefix: str = "model") -> None:
    """Fail in one line, before anything loads, on a model or adapter that cannot load
    (``prefix``: where ``cfg`` sits in the recipe, e.g. ``models.1``)."""
    if cfg.model is not None:
        check_model_path(cfg.model.path, f"{prefix}.model.path", cfg.model.gguf_file)
    if cfg.adapter and not Path(cfg.adapter, "adapter_config.json").is_file():
        why = "no adapter_config.json in the adapter folder" if Path(cfg.adapter).is_dir() else "no such folder"
        raise InputError(cfg.adapter, why, field=f"{prefix}.adapter")


def read_pairs(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Instruction pairs with the fields generation needs; errors name file, row and field."""
    if not path.is_file():
        raise InputError(path, "file not found")
    rows = []
    for i, row in enumerate(read_jsonl(path), start=1):
        for key in REQUIRED:
            if not isinstance(row.get(key), str) or not row[key]:
                raise InputError(path, "missing or empty value", row=i, field=key)
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def chat_messages(row: dict[str, Any], system_prompt: str | None) -> list[dict[str, str]]:
    """The prompt messages of a pair: its rendered ``prompt`` (an eval test row), else its system
    message and the query; ``system_prompt`` replaces the system message."""
    if isinstance(row.get("prompt"), list) and row["prompt"]:
        turns = [m for m in row["prompt"] if m.get("role") != "system"]
        head = [m for m in row["prompt"] if m.get("role") == "system"][:1]
        if system_prompt is not None:
            head = [{"role": "system", "content": system_prompt}] if system_prompt else []
        return [*head, *turns]
    system = system_prompt
    if system is None:
        system = next((m["content"] for m in row.get("messages", []) if m.get("role") == "system"), None)
    msgs = [{"role": "system", "content": system}] if system else []
    return [*msgs, {"role": "user", "content": row["query"]}]


def model_fingerprint(cfg: GenerationConfig) -> dict[str, Any]:
    """What identifies the answering model: base ref, endpoint, and the adapter files' sha256."""
    out: dict[str, Any] = {"model": cfg.model.model_dump(mode="json") if cfg.model else None,
                           "endpoint": ({"model": cfg.endpoint.model,  # a local kind has no base_url
                                         "base_url": getattr(cfg.endpoint, "base_url", None)}
                                        if cfg.endpoint else None), "adapter": None}
    if cfg.adapter and Path(cfg.adapter).is_dir():
        out["adapter"] = {f.name: sha256_file(f)
                          for f in sorted(Path(cfg.adapter).glob("adapter_*")) if f.is_file()}
    return out


def _retire_stale(cfg: GenerationConfig, out_path: Path) -> None:
    """Move answers written by another model aside (kept as ``.stale-N.jsonl``); record this model."""
    meta = out_path.with_name(out_path.stem + ".model.json")
    now = model_fingerprint(cfg)
    if out_path.is_file() and meta.is_file() and json.loads(meta.read_text(encoding="utf-8")) != now:
        stale = stale_path(out_path)
        out_path.rename(stale)
        print(f"{out_path}: the model or adapter changed since these answers were written; "
              f"they were moved to {stale.name} and every row is answered again", file=sys.stderr)
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(now, indent=1), encoding="utf-8")


def count_answers(path: Path) -> int:
    """Rows of a generations file with a non-empty answer (``prediction``)."""
    return sum(1 for r in read_jsonl_tolerant(path) if str(r.get("prediction") or "").strip())


def generate_file(cfg: GenerationConfig, pairs_path: Path, out_path: Path) -> Path:
    """Answer every pair of ``pairs_path`` not yet in ``out_path``; return ``out_path``."""
    run_generation(cfg, Path(pairs_path), Path(out_path))
    return Path(out_path)


def run_generation(cfg: GenerationConfig, pairs_path: Path, out_path: Path) -> GenStats:
    """:func:`generate_file` returning its counters (rows, new tokens, seconds)."""
    pairs = read_pairs(pairs_path, cfg.limit)
    _retire_stale(cfg, out_path)
    fingerprint, settings = model_fingerprint(cfg), decoding(cfg)
    keys = {p["id"]: request_key(chat_messages(p, cfg.system_prompt), fingerprint, settings) for p in pairs}
    done, reused, regenerated = retire_changed(out_path, keys)  # done: the ids still in the file
    todo = [p for p in pairs if p["id"] not in done]
    stats = GenStats(extra={"reused": reused, "regenerated": regenerated})
    if not todo:
        return stats
    name = cfg.model_name()

    def write(row: dict[str, Any], text: str) -> None:
        append_jsonl(out_path, {"id": row["id"], "task": row["task"], "query": row["query"],
                                "label": row.get("label"), "answer": row.get("answer"),
                                "prediction": text, "model": name,
                                **{k: row[k] for k in PASSED if k in row},
                                "prompt": chat_messages(row, cfg.system_prompt), "request_key": keys[row["id"]]})

    t0 = time.perf_counter()
    if cfg.model is not None:
        gen = LocalGenerator(cfg.model, cfg.adapter)
        todo, shortened = limit_queries(todo, cfg.max_post_tokens, gen.tok)
        stats = gen.run(todo, cfg, write)
    else:
        todo, shortened = limit_queries(todo, cfg.max_post_tokens, None)
        stats = _endpoint_run(cfg, todo, out_path, write)
    stats.seconds = time.perf_counter() - t0
    stats.extra.update(posts_shortened=shortened, reused=reused, regenerated=regenerated)
    return stats


def decoding(cfg: GenerationConfig) -> dict[str, Any]:
    """The settings that shape an answer besides the prompt and the model (part of its key)."""
    out: dict[str, Any] = {"max_new_tokens": cfg.max_new_tokens, "max_post_tokens": cfg.max_post_tokens}
    if cfg.endpoint is not None:
        out["endpoint"] = {k: v for k, v in cfg.endpoint.params().items() if k != "max_tokens"}
    return out


def limit_queries(rows: list[dict[str, Any]], max_tokens: int | None,
                  tok: Any = None) -> tuple[list[dict[str, Any]], int]:
    """Shorten (with a marker) each post over ``max_tokens`` inside its query: the tokenizer's
    count for a local model, the estimate of :mod:`imhi.lengths` for an endpoint. Rows without
    their post (``text``) in the query are left as they are. Returns (rows, shortened)."""
    out, shortened = [], 0
    for row in rows:
        text = row.get("text")
        if isinstance(text, str) and text and text in row["query"]:
            short, why = apply_limit(text, max_tokens, "shorten", tok)
            if why is not None and short is not None:
                row, shortened = {**row, "query": row["query"].replace(text, short, 1)}, shortened + 1
                if isinstance(row.get("prompt"), list) and row["prompt"]:
                    last = {**row["prompt"][-1], "content": row["prompt"][-1]["content"].replace(text, short, 1)}
                    row["prompt"] = [*row["prompt"][:-1], last]
        out.append(row)
    return out, shortened


def _endpoint_run(cfg: GenerationConfig, todo: list[dict[str, Any]], out_path: Path,
                  write: Callable[[dict[str, Any], str], None]) -> GenStats:
    """Send the queries through :mod:`imhi.teacher` (cached, rate-limited, retried)."""
    assert cfg.endpoint is not None
    tcfg = cfg.endpoint.model_copy(update={"max_tokens": cfg.max_new_tokens})
    client = make_teacher(tcfg, out_path.with_name(out_path.stem + ".cache.sqlite"))
    stats = GenStats()
    try:
        for start in range(0, len(todo), max(cfg.batch_size, 1) * 8):
            chunk = todo[start:start + max(cfg.batch_size, 1) * 8]
            replies = client.generate([chat_messages(r, cfg.system_prompt) for r in chunk], desc="generate")
            for row, reply in zip(chunk, replies, strict=True):
                if reply.text is None:
                    continue  # an error: left out, so a rerun retries it
                write(row, reply.text)
                stats.rows += 1
                stats.new_tokens += int((reply.usage or {}).get("completion_tokens", 0))
    finally:
        client.close()
    return stats


class LocalGenerator:
    """A transformers causal LM (+ PEFT adapter) generating greedily in left-padded batches."""

    def __init__(self, ref: ModelRef, adapter: str | None = None) -> None:
        self.tok = load_tokenizer(ref, padding_side="left")
        model = load_causal_lm(ref)
        if adapter:
            from peft import PeftModel

            if not Path(adapter, "adapter_config.json").is_file():
                raise InputError(adapter, "no adapter_config.json in the adapter folder", field="adapter")
            model = PeftModel.from_pretrained(model, adapter)
        self.model = model.eval()

    def prompt(self, messages: list[dict[str, str]]) -> str:
        """Chat-template the messages (plain query text when the tokenizer has no template)."""
        if getattr(self.tok, "chat_template", None):
            return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages) + "\n"

    def order(self, prompts: Sequence[str], sort_by_length: bool) -> list[int]:
        """Indices in generation order: longest prompt first when sorting (less padding)."""
        idx = list(range(len(prompts)))
        if sort_by_length:
            lengths = [len(self.tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
            idx.sort(key=lambda i: -lengths[i])
        return idx

    def generate(self, prompts: list[str], max_new_tokens: int) -> tuple[list[str], int]:
        """Greedy generation for one batch; returns texts and the number of new tokens."""
        import torch

        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(self.model.device)
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        n_tokens = int((new != self.tok.pad_token_id).sum())
        return self.tok.batch_decode(new, skip_special_tokens=True), n_tokens

    def run(self, rows: list[dict[str, Any]], cfg: GenerationConfig,
            write: Callable[[dict[str, Any], str], None]) -> GenStats:
        """Generate for ``rows`` in batches, writing each row as soon as its batch is done."""
        prompts = [self.prompt(chat_messages(r, cfg.system_prompt)) for r in rows]
        order = self.order(prompts, cfg.sort_by_length)
        stats = GenStats()
        bs = max(cfg.batch_size, 1)
        bar_console = get_console()
        with Progress(transient=True, disable=not bar_console.is_terminal) as bar:  # nothing in a log
            task = bar.add_task("generate", total=len(rows))
            for start in range(0, len(order), bs):
                idx = order[start:start + bs]
                texts, n_new = self.generate([prompts[i] for i in idx], cfg.max_new_tokens)
                for i, text in zip(idx, texts, strict=True):
                    write(rows[i], text.strip())
                stats.rows += len(idx)
                stats.new_tokens += n_new
                stats.batches += 1
                bar.advance(task, len(idx))
        return stats
