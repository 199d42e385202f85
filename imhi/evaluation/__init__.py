"""Evaluation: label extraction, correctness metrics, explanation quality, reports, sheets.

Reads generations and reference files; writes scores, reports, plots and human-evaluation
sheets. Same layer as generation/training/synthesis: imports none of them.
"""

from __future__ import annotations

from imhi.evaluation.metrics import METRICS, score_task
from imhi.evaluation.score import MetricsConfig, score_generations
from imhi.judges.extract import EXTRACTORS, extract, extract_many

__all__ = ["EXTRACTORS", "METRICS", "MetricsConfig", "extract", "extract_many", "score_generations",
           "score_task"]
