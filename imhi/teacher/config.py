"""Teacher configuration (a recipe section) and the reply record.

Reads and writes nothing. API keys are never part of the config: only the *name* of
the environment variable that holds one (``api_key_env``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from imhi.config import Strict
from imhi.models import ModelRef


class TeacherConfig(Strict):
    """Which LLM writes the explanations, and how it is called."""

    kind: Literal["openai", "batch", "local"] = "openai"
    model: str = Field(default="gpt-3.5-turbo", description="model name sent to the endpoint")
    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint (…/v1)")
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = Field(default=16, ge=1)
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=6, ge=0)
    retry_min_s: float = Field(default=0.5, ge=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    http_client: Literal["aiohttp", "httpx"] = Field(
        default="aiohttp", description="transport of the openai client: aiohttp (less CPU per request at "
        "high concurrency; falls back to httpx where the openai[aiohttp] extra is missing) or httpx")
    sender: Literal["process", "inline"] = Field(
        default="process", description="where the openai client's event loop runs: a separate process "
        "(replies are cached, parsed and filtered here meanwhile, on another core) or this one")
    sender_processes: int | None = Field(
        default=None, ge=1, description="sender processes sharing the concurrency (and rate limits) "
        "evenly; more than one keeps each event loop's bursts of replies short at high concurrency "
        "(default: 2 from concurrency 32 up on a machine with more than 2 CPU cores, else 1)")
    ramp_up_s: float = Field(
        default=0.2, ge=0, description="seconds over which the first `concurrency` requests of a run "
        "start, evenly spaced (0: all at once); replies then come back spread out rather than in "
        "one burst per round trip, which a busy client would work through one by one")
    temperature: float = Field(default=0.0, ge=0)
    top_p: float | None = None
    max_tokens: int = Field(default=512, ge=1)
    seed: int | None = 0
    local_only: bool = Field(default=False, description="refuse any non-loopback endpoint")
    mask_pii: bool = Field(default=True, description="mask handles, e-mails, URLs, phones when remote")
    local: ModelRef | None = Field(default=None, description="model for kind 'local'")
    batch_size: int = Field(default=8, ge=1, description="local backend: prompts per forward pass")
    batch_poll_s: float = Field(default=30.0, gt=0, description="batch backend: poll interval")
    batch_max_requests: int = Field(default=50_000, ge=1)
    batch_completion_window: str = "24h"

    @model_validator(mode="after")
    def _check(self) -> TeacherConfig:
        if self.kind == "local" and self.local is None:
            raise ValueError("kind 'local' needs a 'local' model reference (local.path)")
        return self

    def params(self) -> dict[str, Any]:
        """Generation parameters that shape a reply (part of the cache key)."""
        out: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    def senders(self) -> int:
        """Sender processes to start (``sender_processes``, or the default for the concurrency and
        the machine: on 2 cores a second sender competes with the build for CPU, and measured no
        faster than one once the first requests are ramped up)."""
        n = self.sender_processes or (2 if self.concurrency >= 32 and (os.cpu_count() or 1) > 2 else 1)
        return max(1, min(n, self.concurrency))

    def endpoint(self) -> str:
        """What the cache key calls the endpoint (never includes a key)."""
        if self.kind == "local":
            assert self.local is not None
            return f"local:{self.local.path}:{self.local.gguf_file or ''}:{self.local.quantization}"
        return (self.base_url or "https://api.openai.com/v1").rstrip("/")


class Reply(BaseModel):
    """One teacher reply: text, or a final error for that row (the run goes on)."""

    text: str | None = None
    error: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    cached: bool = False
    key: str = ""
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None
