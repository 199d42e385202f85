"""Every call into TRL, PEFT and the HF Trainer sits here (they rename arguments between releases).

Reads base models (through ``imhi.models``) and adapter folders; writes adapter folders,
merged-weight folders, Trainer checkpoints and a JSONL training log. torch/trl/peft are
imported lazily inside functions.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imhi.io import InputError, append_jsonl, frozen_heap, write_json
from imhi.logs import adopt_library_logs, verbose
from imhi.models import ModelRef, cache_root, load_causal_lm, load_tokenizer
from imhi.training.recipe import LoraSpec


def cuda_available() -> bool:
    """True when a CUDA device can be used for training."""
    import torch

    return torch.cuda.is_available()


def state() -> Any:
    """accelerate's process state (world size, rank); a single process without a launcher."""
    from accelerate import PartialState

    return PartialState()


def is_main() -> bool:
    """True on the process that writes shared files (rank 0, or the only process)."""
    return bool(state().is_main_process)


def barrier() -> None:
    """Wait for every process (no-op for a single process)."""
    state().wait_for_everyone()


def _device_map(ref: ModelRef) -> Any:
    """bitsandbytes on GPU needs the whole model on this process's device; CPU needs none."""
    if ref.quantization != "none" and cuda_available():
        return {"": state().local_process_index}
    return None


def load_base(ref: ModelRef, gradient_checkpointing: bool) -> Any:
    """Load the base causal LM; a k-bit model is prepared for QLoRA training."""
    from peft import prepare_model_for_kbit_training

    model = load_causal_lm(ref, device_map=_device_map(ref))
    if ref.quantization != "none":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    return model


def tokenizer(ref: ModelRef) -> Any:
    """The training tokenizer (right padding)."""
    return load_tokenizer(ref, padding_side="right")


def lora_config(spec: LoraSpec) -> Any:
    """A peft.LoraConfig for a causal LM."""
    from peft import LoraConfig

    return LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                      target_modules=spec.target_modules, bias=spec.bias,
                      use_rslora=spec.use_rslora, task_type="CAUSAL_LM")


def new_adapter(model: Any, spec: LoraSpec, seed: int) -> Any:
    """Wrap ``model`` with a freshly initialised LoRA adapter (seeded)."""
    from peft import get_peft_model
    from transformers import set_seed

    set_seed(seed)
    return get_peft_model(model, lora_config(spec))


def load_adapter(model: Any, adapter: str | Path, trainable: bool = True) -> Any:
    """Attach a saved adapter; a mismatch with the base is a clear error."""
    from peft import PeftModel

    path = Path(adapter)
    if not (path / "adapter_config.json").is_file():
        raise InputError(path, "not an adapter folder (no adapter_config.json)", field="adapter")
    try:
        return PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"incompatible adapter for this base model: {first}",
                         field="adapter") from None


def merge_to_folder(base: ModelRef, adapter: str | Path, out: Path) -> Path:
    """Merge ``adapter`` into unquantised ``base`` weights and save a plain folder (atomic)."""
    if (out / "config.json").is_file():
        return out
    plain = base.model_copy(update={"quantization": "none"})
    model = load_adapter(load_causal_lm(plain), adapter, trainable=False).merge_and_unload()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    load_tokenizer(plain).save_pretrained(tmp)
    tmp.rename(out)
    return out


class JsonlLog:
    """A TrainerCallback factory: each Trainer log line appended to ``log.jsonl``."""

    @staticmethod
    def make(path: Path) -> Any:
        from transformers import TrainerCallback

        class _Log(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
                if state.is_world_process_zero and logs:
                    append_jsonl(path, {"step": state.global_step, "epoch": state.epoch,
                                        "time": time.time(), **logs})

        return _Log()


def _step_lines(report: Callable[[str], None]) -> Any:
    """A TrainerCallback reporting one short line per Trainer log: step, loss, seconds."""
    from transformers import TrainerCallback

    class _Lines(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            self.t0 = time.perf_counter()

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **_: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            took = f"({time.perf_counter() - self.t0:.0f} s)"
            if isinstance(logs.get("train_loss"), int | float):  # the Trainer's summary at the end
                report(f"done: {state.global_step} steps, mean loss {logs['train_loss']:.4g} {took}")
            elif isinstance(logs.get("loss"), int | float):
                report(f"step {state.global_step}/{state.max_steps}, loss {logs['loss']:.4g} {took}")

    return _Lines()


def sft_fields() -> tuple[frozenset[str] | None, str]:
    """The field names of ``trl.SFTConfig`` (None and the reason when TRL is absent).

    Importing TRL costs seconds (it imports torch), so the names are kept per TRL and
    transformers version in the imhi cache ($IMHI_CACHE or ~/.cache/imhi)."""
    try:
        found = importlib.util.find_spec("trl")
    except (ImportError, ValueError):  # a module blocked in sys.modules has no spec
        found = None
    if found is None:
        return None, "trl is not installed (pip install 'imhi[train]')"
    versions = "-".join(f"{n}-{importlib.metadata.version(n)}" for n in ("trl", "transformers"))
    saved = cache_root().parent / "sft_fields" / f"{versions}.json"
    if saved.is_file():
        return frozenset(json.loads(saved.read_text(encoding="utf-8"))), ""
    try:
        from trl import SFTConfig
    except ImportError as exc:
        return None, f"trl cannot be imported ({exc})"
    adopt_library_logs()
    names = sorted(f.name for f in dataclasses.fields(SFTConfig))
    write_json(saved, names)
    return frozenset(names), ""


def sft_args(sft: dict[str, Any], out_dir: Path, seed: int) -> Any:
    """trl.SFTConfig from the recipe's mapping plus the fields imhi owns."""
    from trl import SFTConfig

    on_gpu = cuda_available()
    defaults: dict[str, Any] = {
        "report_to": "none", "save_strategy": "steps", "save_steps": 50, "save_total_limit": 2,
        "logging_steps": 5, "seed": seed, "completion_only_loss": True,
        "gradient_checkpointing": on_gpu, "bf16": False, "fp16": False, "use_cpu": not on_gpu,
        "disable_tqdm": False, "dataloader_num_workers": 0,
    }
    if not on_gpu and "gradient_checkpointing" not in sft:
        defaults["gradient_checkpointing"] = False
    try:
        return SFTConfig(output_dir=str(out_dir), **{**defaults, **sft})
    except TypeError as exc:
        raise InputError("sft", f"not a trl.SFTConfig field: {exc}", field="sft") from None


def last_checkpoint(out_dir: Path) -> str | None:
    """The newest Trainer checkpoint folder under ``out_dir``, if any."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out_dir)) if out_dir.is_dir() else None


def train(model: Any, tok: Any, rows: list[dict[str, Any]], args: Any, log_path: Path,
          resume_from: str | None, callbacks: list[Any] | None = None,
          progress: Callable[[str], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """Run trl.SFTTrainer on prompt-completion rows; returns (trainer, metrics). With ``progress``,
    one line per Trainer log goes there, replacing the Trainer's bar and printed dicts (kept with -v)."""
    from datasets import Dataset
    from trl import SFTTrainer

    adopt_library_logs()
    data = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    lines = [_step_lines(progress)] if progress else []
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                         callbacks=[JsonlLog.make(log_path), *lines, *(callbacks or [])])
    if lines and not verbose():
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    try:
        with frozen_heap():  # the model, data and libraries stay out of the collector's full passes
            out = trainer.train(resume_from_checkpoint=resume_from)
    except Exception as exc:
        if _is_oom(exc):
            raise InputError(args.output_dir, "out of memory while training: lower "
                             "per_device_train_batch_size or max_length, raise "
                             "gradient_accumulation_steps, or load the model in 4bit") from None
        raise
    metrics = dict(out.metrics)
    metrics["wall_s"] = round(time.perf_counter() - t0, 3)
    # TRL's running count of non-padding tokens seen by this process (since this process started).
    metrics["num_tokens"] = int(getattr(trainer, "_total_train_tokens", 0))
    if metrics.get("train_runtime"):
        metrics["tokens_per_s"] = round(metrics["num_tokens"] / metrics["train_runtime"], 1)
    metrics.update(memory_stats())
    return trainer, metrics


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError | MemoryError) or "out of memory" in str(exc).lower()


def save_adapter(trainer: Any, out: Path) -> Path:
    """Save the trained adapter (and tokenizer) atomically to ``out``."""
    tmp = out.with_name(out.name + ".partial")
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    if trainer.is_world_process_zero():
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    barrier()
    return out


def trainable_counts(model: Any) -> dict[str, int]:
    """Trainable and total parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    train_n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_params": int(train_n), "total_params": int(total)}


def memory_stats() -> dict[str, float]:
    """Peak resident memory of this process (MiB) and peak CUDA memory when on GPU."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mib = rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
    out = {"peak_rss_mib": round(rss_mib, 1)}
    if cuda_available():
        import torch

        out["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def world() -> dict[str, int]:
    """World size and rank as seen by accelerate/torchrun."""
    return {"world_size": int(os.environ.get("WORLD_SIZE", "1")), "rank": int(os.environ.get("RANK", "0"))}
