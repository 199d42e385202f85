"""A local ``transformers`` causal LM as the teacher (offline; no post leaves the machine).

Reads the model through imhi.models (hub id, folder or GGUF); writes nothing. Batched
generation with the model's chat template and left padding; jobs are sorted by length so a
batch wastes little padding, and grouped by their generation parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imhi.models import load_causal_lm, load_tokenizer
from imhi.teacher.base import Job, OnReply, Tally
from imhi.teacher.config import LocalTeacher, Reply


class LocalBackend:
    """Generate replies with a local model (loaded on first use)."""

    def __init__(self, cfg: LocalTeacher) -> None:
        self.cfg = cfg
        self.tally = Tally()
        self._model: Any = None
        self._tok: Any = None

    def _load(self) -> None:
        if self._model is None:
            self._tok = load_tokenizer(self.cfg.local, padding_side="left")
            self._model = load_causal_lm(self.cfg.local)
            self._model.eval()

    def close(self) -> None:
        """Free the model (it is loaded again on the next send)."""
        self._model = self._tok = None

    def send(self, jobs: Iterable[Job], on_reply: OnReply) -> None:
        """Group jobs by parameters, sort by prompt length, generate batch by batch."""
        jobs = list(jobs)
        self._load()
        groups: dict[str, list[tuple[Job, str]]] = {}
        for job in jobs:
            prompt = self._tok.apply_chat_template(job.messages, tokenize=False,
                                                   add_generation_prompt=True)
            groups.setdefault(repr(sorted(job.params.items())), []).append((job, prompt))
        for items in groups.values():
            items.sort(key=lambda it: len(it[1]))
            for i in range(0, len(items), self.cfg.batch_size):
                batch = items[i:i + self.cfg.batch_size]
                self.tally.in_flight = len(batch)
                on_reply(list(zip([b[0] for b in batch], self._generate(batch), strict=True)))
        self.tally.in_flight = 0

    def _generate(self, batch: list[tuple[Job, str]]) -> list[Reply]:
        import torch

        params = batch[0][0].params
        enc = self._tok([p for _, p in batch], return_tensors="pt", padding=True,
                        add_special_tokens=False)
        sample = float(params.get("temperature", 0.0)) > 0
        kwargs: dict[str, Any] = {"max_new_tokens": int(params["max_tokens"]), "do_sample": sample,
                                  "pad_token_id": self._tok.pad_token_id}
        if sample:
            kwargs.update(temperature=float(params["temperature"]), top_p=float(params.get("top_p", 1.0)))
            torch.manual_seed(int(params.get("seed") or 0))
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self._model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        return [self._reply(new[r], int(enc["attention_mask"][r].sum()), kwargs["max_new_tokens"])
                for r in range(new.shape[0])]

    def _reply(self, tokens: Any, prompt_tokens: int, limit: int) -> Reply:
        ids = tokens.tolist()
        eos = self._tok.eos_token_id
        pad = self._tok.pad_token_id
        stopped = eos in ids or (pad in ids and pad != eos)
        n = next((i for i, t in enumerate(ids) if t in (eos, pad)), len(ids))
        text = self._tok.decode(ids[:n], skip_special_tokens=True).strip()
        if not text:
            return Reply(error="EmptyReply: the model generated no text", cause="empty",
                         usage={"prompt_tokens": prompt_tokens, "completion_tokens": n})
        finish = "stop" if stopped or n < limit else "length"
        return Reply(text=text, finish_reason=finish,
                     usage={"prompt_tokens": prompt_tokens, "completion_tokens": n})
