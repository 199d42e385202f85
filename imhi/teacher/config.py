"""Teacher configuration (a recipe section): one class per teacher kind, and the reply record.

Reads and writes nothing. ``TeacherConfig`` is a discriminated union on ``kind``
(``openai``: any OpenAI-compatible endpoint, the default; ``batch``: the OpenAI Batch API;
``local``: a transformers model), so a setting of another kind is a recipe error. Each class
says what the callers need to know (its endpoint, whether requests are masked, its price
factor, its backend): no module outside ``imhi/teacher/`` compares ``kind`` strings.
API keys are never part of the config: only the *name* of the environment variable that
holds one (``api_key_env``).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter

from imhi.config import Strict, unknown_name
from imhi.models import ModelRef
from imhi.teacher.privacy import check_endpoint, is_loopback

if TYPE_CHECKING:
    from imhi.teacher.base import Backend


class _Generation(Strict):
    """What every kind shares: the model name and the parameters that shape a reply."""

    model: str = Field(default="gpt-3.5-turbo", description="model name sent to the endpoint")
    temperature: float = Field(default=0.0, ge=0)
    top_p: float | None = None
    max_tokens: int = Field(default=512, ge=1)
    seed: int | None = 0

    def params(self) -> dict[str, Any]:
        """Generation parameters that shape a reply (part of the cache key)."""
        out: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.seed is not None:
            out["seed"] = self.seed
        return out


class _Remote(_Generation):
    """An HTTP endpoint: where it is, the key, retries, timeouts, privacy."""

    base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint (…/v1)")
    api_key_env: str = "OPENAI_API_KEY"
    max_retries: int = Field(default=6, ge=0)
    retry_min_s: float = Field(default=0.5, ge=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="seconds to open a connection (a host that never answers "
        "fails here, not after timeout_s)")
    local_only: bool = Field(default=False, description="refuse any non-loopback endpoint")
    mask_pii: bool = Field(default=True, description="mask handles, e-mails, URLs, phones when remote")

    def endpoint(self) -> str:
        """What the cache key and the messages call the endpoint (never includes a key)."""
        return (self.base_url or "https://api.openai.com/v1").rstrip("/")

    def provenance(self) -> str:
        """The teacher's name in provenance: the model."""
        return self.model

    def masks(self) -> bool:
        """Whether requests are masked: they leave the machine."""
        return self.mask_pii and not is_loopback(self.base_url)

    def check(self) -> None:
        """Refuse a remote endpoint under ``local_only``."""
        check_endpoint(self.base_url, self.local_only)


class OpenAITeacher(_Remote):
    """``openai``: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, …)."""

    kind: Literal["openai"] = "openai"
    concurrency: int = Field(default=16, ge=1)
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    max_connection_failures: int = Field(
        default=5, ge=1, description="failures in a row that every other request would meet too "
        "(connection refused, DNS, TLS, reset, timeout, HTTP 401/403/404; a reply, a 429 or a 5xx "
        "resets the count) after which the run stops with one line naming the endpoint and the "
        "cause; answered replies stay cached")
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

    def senders(self) -> int:
        """Sender processes to start (``sender_processes``, or the default for the concurrency and
        the machine: on 2 cores a second sender competes with the build for CPU, and measured no
        faster than one once the first requests are ramped up)."""
        n = self.sender_processes or (2 if self.concurrency >= 32 and (os.cpu_count() or 1) > 2 else 1)
        return max(1, min(n, self.concurrency))

    def cost_factor(self, batch_discount: float) -> float:
        """Share of the list price paid: all of it."""
        return 1.0

    def backend(self, cache_path: Path) -> Backend:
        from imhi.teacher.openai_backend import OpenAIBackend

        return OpenAIBackend(self)


class BatchTeacher(_Remote):
    """``batch``: the OpenAI Batch API (upload, poll, download; resumable; discounted)."""

    kind: Literal["batch"]
    batch_poll_s: float = Field(default=30.0, gt=0, description="poll interval")
    batch_max_requests: int = Field(default=50_000, ge=1, description="requests per uploaded file at most")
    batch_max_bytes: int = Field(
        default=190_000_000, ge=1_000, description="bytes per uploaded file at most (the OpenAI Batch "
        "API refuses input files over 200 MB)")
    batch_completion_window: str = "24h"

    def cost_factor(self, batch_discount: float) -> float:
        """Share of the list price paid: the Batch API's discount."""
        return batch_discount

    def backend(self, cache_path: Path) -> Backend:
        from imhi.teacher.batch import BatchBackend

        return BatchBackend(self, Path(str(cache_path) + ".batches.json"))


class LocalTeacher(_Generation):
    """``local``: a transformers causal LM on this machine (no post leaves it)."""

    kind: Literal["local"]
    local: ModelRef = Field(description="the model: hub id, folder or GGUF (local.path)")
    batch_size: int = Field(default=8, ge=1, description="prompts per forward pass")

    def endpoint(self) -> str:
        """What the cache key calls the model (path, GGUF file, quantisation)."""
        return f"local:{self.local.path}:{self.local.gguf_file or ''}:{self.local.quantization}"

    def provenance(self) -> str:
        """The teacher's name in provenance: the model's path."""
        return self.local.path

    def masks(self) -> bool:
        """Nothing leaves the machine: no masking."""
        return False

    def check(self) -> None:
        """A local model needs no endpoint check."""

    def cost_factor(self, batch_discount: float) -> float:
        """A local model costs nothing."""
        return 0.0

    def backend(self, cache_path: Path) -> Backend:
        from imhi.teacher.local import LocalBackend

        return LocalBackend(self)


TEACHERS: dict[str, type[OpenAITeacher] | type[BatchTeacher] | type[LocalTeacher]] = {
    "openai": OpenAITeacher, "batch": BatchTeacher, "local": LocalTeacher}


def _known_kind(value: Any) -> Any:
    """No ``kind`` means ``openai``; an unknown kind lists the known ones; a key that belongs to
    another kind says which, and a misspelled one the closest setting of this kind."""
    if not isinstance(value, dict):
        return value
    value = {"kind": "openai", **value}
    kind = str(value["kind"])
    if kind not in TEACHERS:
        raise ValueError(unknown_name("teacher kind", kind, list(TEACHERS)))
    fields = list(TEACHERS[kind].model_fields)
    for key in (k for k in value if k not in fields):
        owners = [k for k, cls in TEACHERS.items() if key in cls.model_fields]
        if owners:
            raise ValueError(f"'{key}' is a setting of teacher kind {' / '.join(owners)}, not of kind '{kind}'")
        close = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.6)
        raise ValueError(f"unknown key '{key}' (misspelled?)" + (f"; did you mean '{close[0]}'?" if close else ""))
    return value


TeacherConfig = Annotated[OpenAITeacher | BatchTeacher | LocalTeacher, Field(discriminator="kind"),
                          BeforeValidator(_known_kind)]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(TeacherConfig)


def teacher_config(data: dict[str, Any]) -> OpenAITeacher | BatchTeacher | LocalTeacher:
    """Validate a teacher section (a recipe's ``teacher:``) into its kind's class."""
    return _ADAPTER.validate_python(data)  # type: ignore[no-any-return]


class Reply(BaseModel):
    """One teacher reply: text, or a final error for that row (the run goes on)."""

    text: str | None = None
    error: str | None = None
    cause: str | None = Field(default=None, description="of an error: refused, dns, tls, reset, "
                              "timeout, 429, 5xx, 4xx, malformed, batch, …")
    usage: dict[str, int] = Field(default_factory=dict)
    cached: bool = False
    key: str = ""
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None
