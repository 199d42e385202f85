"""Teacher LLMs: OpenAI-compatible endpoints, the OpenAI Batch API, local transformers models.

Reads API keys from the environment only; writes the reply cache (SQLite) at the path the
caller gives, plus ``<cache>.batches.json`` for the Batch API. Use::

    teacher = make_teacher(TeacherConfig(...), run_dir / "teacher_cache.sqlite")
    replies = teacher.generate([[{"role": "user", "content": "..."}]], desc="dr")
"""

from __future__ import annotations

from pathlib import Path

from imhi.teacher.base import Backend, Job, Stats, Teacher
from imhi.teacher.cache import ReplyCache, request_key
from imhi.teacher.config import Reply, TeacherConfig
from imhi.teacher.privacy import check_endpoint, is_loopback, mask_messages, mask_text


def make_backend(cfg: TeacherConfig, cache_path: Path) -> Backend:
    """The backend for ``cfg.kind`` (plain dispatch; imports are lazy)."""
    if cfg.kind == "local":
        from imhi.teacher.local import LocalBackend

        return LocalBackend(cfg)
    if cfg.kind == "batch":
        from imhi.teacher.batch import BatchBackend

        return BatchBackend(cfg, Path(str(cache_path) + ".batches.json"))
    from imhi.teacher.openai_backend import OpenAIBackend

    return OpenAIBackend(cfg)


def make_teacher(cfg: TeacherConfig, cache_path: Path) -> Teacher:
    """A cached teacher for ``cfg`` whose replies live in ``cache_path`` (SQLite)."""
    check_endpoint(cfg.base_url if cfg.kind != "local" else "http://127.0.0.1", cfg.local_only)
    return Teacher(cfg, ReplyCache(cache_path), make_backend(cfg, Path(cache_path)))


__all__ = ["Job", "Reply", "ReplyCache", "Stats", "Teacher", "TeacherConfig", "check_endpoint",
           "is_loopback", "make_teacher", "mask_messages", "mask_text", "request_key"]
