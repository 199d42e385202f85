"""Teacher LLMs: OpenAI-compatible endpoints, the OpenAI Batch API, local transformers models.

Reads API keys from the environment only; writes the reply cache (SQLite) at the path the
caller gives, plus ``<cache>.batches.json`` for the Batch API. Use::

    teacher = make_teacher(teacher_config({"model": "...", "base_url": "..."}), run_dir / "cache.sqlite")
    replies = teacher.generate([[{"role": "user", "content": "..."}]], desc="dr")

``TeacherConfig`` is the recipe section (one class per kind: ``OpenAITeacher``,
``BatchTeacher``, ``LocalTeacher``); each builds its own backend.
"""

from __future__ import annotations

from pathlib import Path

from imhi.teacher.base import Backend, Job, Stats, Tally, Teacher
from imhi.teacher.cache import ReplyCache, request_key
from imhi.teacher.config import (
    TEACHERS,
    BatchTeacher,
    LocalTeacher,
    OpenAITeacher,
    Reply,
    TeacherConfig,
    teacher_config,
)
from imhi.teacher.privacy import check_endpoint, is_loopback, mask_messages, mask_text


def make_backend(cfg: TeacherConfig, cache_path: Path) -> Backend:
    """The backend of ``cfg``'s kind (its imports are lazy)."""
    return cfg.backend(Path(cache_path))


def make_teacher(cfg: TeacherConfig, cache_path: Path) -> Teacher:
    """A cached teacher for ``cfg`` whose replies live in ``cache_path`` (SQLite)."""
    cfg.check()
    return Teacher(cfg, ReplyCache(cache_path), make_backend(cfg, Path(cache_path)))


__all__ = ["TEACHERS", "BatchTeacher", "Job", "LocalTeacher", "OpenAITeacher", "Reply", "ReplyCache", "Stats",
           "Tally", "Teacher", "TeacherConfig", "check_endpoint", "is_loopback", "make_teacher", "mask_messages",
           "mask_text", "request_key", "teacher_config"]
