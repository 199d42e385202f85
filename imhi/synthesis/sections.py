"""The teacher-mode sections of a build recipe (teacher, prompting, filters, report, cache).

Reads and writes nothing; :class:`imhi.synthesis.recipe.BuildRecipe` carries these fields.
"""

from __future__ import annotations

from pydantic import Field

from imhi.config import Strict
from imhi.prompting import PromptConfig
from imhi.synthesis.filters import FilterConfig
from imhi.synthesis.report import ReportConfig
from imhi.teacher import TeacherConfig


class TeacherSections(Strict):
    """Recipe keys used by ``mode: teacher``."""

    teacher: TeacherConfig | None = None
    prompting: PromptConfig = Field(default_factory=PromptConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    cache: str | None = Field(default=None, description="reply cache (default: <run>/teacher_cache.sqlite)")
