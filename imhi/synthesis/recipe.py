"""The ``imhi build`` recipe (YAML under build_dataset/), validated strictly.

Reads nothing itself; :func:`imhi.config.load_recipe` loads it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from imhi.config import Strict
from imhi.lengths import DEFAULT_MAX_POST_TOKENS, LongPosts, MaxPostTokens
from imhi.prompting import PromptConfig
from imhi.sources import SourceSpec
from imhi.synthesis.filters import FilterConfig
from imhi.synthesis.report import ReportConfig
from imhi.teacher import TeacherConfig


class SplitSpec(Strict):
    """How posts without a split of their own are divided (stratified by task and label)."""

    valid: float = Field(default=0.1, ge=0, lt=1)
    test: float = Field(default=0.1, ge=0, lt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _fractions(self) -> SplitSpec:
        if self.valid + self.test >= 1:
            raise ValueError("valid + test must be below 1")
        return self


class DedupSpec(Strict):
    """Duplicate posts and train/test leakage: always reported, optionally dropped."""

    drop_duplicates: bool = True
    drop_leaked_from_train: bool = True


class BuildRecipe(Strict):
    """Sources → tasks → instruction pairs in a run folder."""

    name: str
    mode: Literal["reference", "teacher"] = "reference"
    output_dir: str | None = Field(default=None, description="default: runs/build/<name>")
    prompts_dir: str | None = None
    data_dir: str | None = Field(default=None, description="base folder of relative source paths "
                                 "(itself relative to the recipe file); default: the recipe's folder")
    sources: list[SourceSpec] = Field(min_length=1)
    tasks: list[str] | None = Field(default=None, description="keep only these tasks")
    split: SplitSpec = Field(default_factory=SplitSpec)
    dedup: DedupSpec = Field(default_factory=DedupSpec)
    system_prompt_in_messages: bool = False
    max_post_tokens: MaxPostTokens = DEFAULT_MAX_POST_TOKENS  # estimated tokens (imhi.lengths)
    long_posts: LongPosts = "shorten"
    # mode "teacher" (see imhi/synthesis/pipeline.py)
    teacher: TeacherConfig | None = None
    prompting: PromptConfig = Field(default_factory=PromptConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    cache: str | None = Field(default=None, description="reply cache (default: <run>/teacher_cache.sqlite)")
    min_kept: float = Field(default=0.5, ge=0, le=1, description="share of the posts that must be kept "
                            "for the build to succeed; below it (or with no row kept) the build ends with "
                            "a warning and exit code 4, its files written")
    status_every_s: float = Field(default=30.0, gt=0, description="without a terminal (a log, CI): seconds "
                                  "between two status lines of a teacher build")

    @model_validator(mode="after")
    def _teacher_mode(self) -> BuildRecipe:
        if self.mode == "teacher" and self.teacher is None:
            raise ValueError("mode 'teacher' needs a 'teacher:' section (kind, model, ...)")
        if self.mode == "teacher" and self.filters.on_fail == "flag":
            raise ValueError("filters.on_fail: flag applies to mode: reference (a teacher build drops and regenerates)")
        return self
