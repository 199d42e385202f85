"""Scoring of human ratings the way papers report them.

Reads a Ratings object (imhi.evaluation.ratings: long form, missing ratings allowed, systems
rated on different posts allowed); writes ``human_eval.json``, ``human_eval.md``,
``human_eval.png`` and ``report.html`` (also every rating) with, per aspect: means per system
with bootstrap CIs over items;
Krippendorff's α (ordinal, its missing-data form) within each system and pooled over all
systems, each with a bootstrap CI over items; pairwise Spearman ρ between annotators;
systems compared on the posts they share (Wilcoxon signed-rank on per-post mean ratings,
with the n used); and per-annotator means beside the other annotators' on the same items.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from imhi.config import Strict
from imhi.evaluation.page import write_sheet_page
from imhi.evaluation.ratings import Ratings
from imhi.io import write_json, write_text

POOLED = "pooled"


class ScoreConfig(Strict):
    """Bootstrap resamples over items, their seed and the confidence level."""

    bootstrap: int = Field(default=1000, ge=0)
    seed: int = 0
    level: float = Field(default=0.95, gt=0, lt=1)


def score_ratings(ratings: Ratings, out_dir: Path, cfg: ScoreConfig | None = None) -> dict[str, Any]:
    """Means, agreement, comparisons and per-annotator means; written as JSON, Markdown and a plot."""
    cfg = cfg or ScoreConfig()
    frame = ratings.frame.dropna(subset=["score"])
    systems = sorted(frame["system"].unique())
    units = frame[["system", "item"]].drop_duplicates()
    result: dict[str, Any] = {
        "annotators": list(dict.fromkeys(frame["annotator"])), "sources": ratings.sources,
        "systems": {s: int((units["system"] == s).sum()) for s in systems}, "items": len(units),
        "ratings": len(frame), "missing": int(ratings.frame["score"].isna().sum()),
        "aspects": ratings.aspects, "scale": list(ratings.scale), "level": cfg.level,
        "means": {}, "means_ci": {}, "agreement": {}, "agreement_by_system": {},
        "comparisons": {}, "annotator_means": {}}
    rng = np.random.default_rng(cfg.seed)
    domain = list(range(ratings.scale[0], ratings.scale[1] + 1))
    for system in systems:
        part = frame[frame["system"] == system]
        means = {a: mean_ci(part[part["aspect"] == a], cfg, rng) for a in ratings.aspects}
        result["means"][system] = {a: m["mean"] for a, m in means.items()}
        result["means_ci"][system] = means
        result["agreement_by_system"][system] = {
            a: alpha_ci(matrix(part, a), domain, cfg, rng) for a in ratings.aspects}
    for a in ratings.aspects:
        m = matrix(frame, a)
        result["agreement"][a] = {**alpha_ci(m, domain, cfg, rng), "scope": POOLED, "spearman": spearman(m)}
        result["comparisons"][a] = compare_systems(frame, a, systems)
    result["annotator_means"] = annotator_means(frame, ratings.aspects)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "human_eval.json", result)
    write_text(out_dir / "human_eval.md", markdown(result))
    plot(result, out_dir / "human_eval.png")
    write_sheet_page(out_dir, ratings.frame)
    return result


def matrix(frame: pd.DataFrame, aspect: str) -> pd.DataFrame:
    """Annotators × units (system, item) of one aspect; NaN where an annotator gave no rating."""
    part = frame[frame["aspect"] == aspect]
    return part.pivot_table(index="annotator", columns=["system", "item"], values="score", aggfunc="first",
                            sort=False)


def _interval(values: list[float], level: float) -> list[float] | None:
    values = [v for v in values if v == v]
    if len(values) < 2:
        return None
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def mean_ci(part: pd.DataFrame, cfg: ScoreConfig, rng: np.random.Generator) -> dict[str, Any]:
    """Mean of all ratings; CI from resampling items (all ratings of a drawn item go together)."""
    per = part.groupby("item")["score"].agg(["sum", "count"])
    if per.empty:
        return {"mean": None, "ci": None, "n_items": 0, "n_ratings": 0}
    sums, counts = per["sum"].to_numpy(), per["count"].to_numpy()
    draws = rng.integers(0, len(per), size=(cfg.bootstrap, len(per)))
    boots = list(sums[draws].sum(axis=1) / counts[draws].sum(axis=1)) if cfg.bootstrap else []
    return {"mean": float(sums.sum() / counts.sum()), "ci": _interval(boots, cfg.level),
            "n_items": len(per), "n_ratings": int(counts.sum())}


def alpha(data: np.ndarray, domain: list[int]) -> float | None:
    """Krippendorff's α (ordinal); None where it is undefined (fewer than two pairable values, one value)."""
    import krippendorff

    pairable = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    if pairable.shape[0] < 2 or len(np.unique(pairable[~np.isnan(pairable)])) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal", value_domain=domain)
    return float(value) if np.isfinite(value) else None


def alpha_ci(m: pd.DataFrame, domain: list[int], cfg: ScoreConfig, rng: np.random.Generator) -> dict[str, Any]:
    """α over the units of ``m`` and a percentile CI from resampling those units."""
    data = m.to_numpy(dtype=float)
    n = data.shape[1]
    point = alpha(data, domain)
    boots: list[float] = []
    if point is not None and cfg.bootstrap:
        for draw in rng.integers(0, n, size=(cfg.bootstrap, n)):
            value = alpha(data[:, draw], domain)
            boots.append(float("nan") if value is None else value)
    return {"alpha": point, "ci": _interval(boots, cfg.level), "n_items": n, "n_annotators": data.shape[0]}


def spearman(m: pd.DataFrame) -> dict[str, float | None]:
    """Spearman ρ for every pair of annotators over the units both rated."""
    from scipy.stats import spearmanr

    out: dict[str, float | None] = {}
    for x, y in itertools.combinations(m.index, 2):
        both = m.loc[[x, y]].dropna(axis=1)
        rho = float("nan")
        if both.shape[1] >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rho = spearmanr(both.iloc[0], both.iloc[1]).statistic
        out[f"{x}-{y}"] = None if rho != rho else float(rho)
    return out


def compare_systems(frame: pd.DataFrame, aspect: str, systems: list[str]) -> list[dict[str, Any]]:
    """Per pair of systems: Wilcoxon signed-rank on per-post mean ratings over the posts both were rated on."""
    from scipy.stats import wilcoxon

    per_post = frame[frame["aspect"] == aspect].groupby(["system", "item"])["score"].mean().unstack(0)
    out = []
    for a, b in itertools.combinations(systems, 2):
        pair = per_post[[a, b]].dropna() if {a, b} <= set(per_post.columns) else pd.DataFrame(columns=[a, b])
        diff = pair[a] - pair[b]
        entry: dict[str, Any] = {"a": a, "b": b, "n": len(pair), "n_nonzero": int((diff != 0).sum()),
                                 "mean_diff": float(diff.mean()) if len(pair) else None,
                                 "statistic": None, "p": None}
        if entry["n_nonzero"]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                test = wilcoxon(pair[a], pair[b])
            entry["statistic"], entry["p"] = float(test.statistic), float(test.pvalue)
        out.append(entry)
    return out


def annotator_means(frame: pd.DataFrame, aspects: list[str]) -> dict[str, dict[str, Any]]:
    """annotator → aspect → mean, n, and the other annotators' mean on the same units (a lenient rater stands out)."""
    out: dict[str, dict[str, Any]] = {}
    for who in dict.fromkeys(frame["annotator"]):
        out[who] = {}
        for a in aspects:
            part = frame[frame["aspect"] == a]
            mine = part[part["annotator"] == who]
            others = part[part["annotator"] != who].merge(mine[["system", "item"]], on=["system", "item"])
            out[who][a] = {"mean": float(mine["score"].mean()) if len(mine) else None, "n": len(mine),
                           "others_mean": float(others["score"].mean()) if len(others) else None}
    return out


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _with_ci(value: float | None, ci: list[float] | None) -> str:
    return _num(value) + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and value is not None else "")


def markdown(result: dict[str, Any]) -> str:
    """The report: counts, means with CIs, α within systems and pooled, comparisons, annotators."""
    aspects, pct = result["aspects"], f"{result['level']:.0%}"
    head = "| {} | " + " | ".join(aspects) + " |"
    rule = "|---|---|" + "---|" * len(aspects)
    lo, hi = result["scale"]
    lines = ["# Human evaluation", "",
             f"{len(result['annotators'])} annotators, {len(result['systems'])} systems, {result['items']} rated items "
             f"(system × post), {result['ratings']} ratings ({result['missing']} missing); scale {lo}–{hi}.", "",
             f"## Mean rating ({pct} bootstrap CI over items)", "", head.format("system | items"), rule]
    for system, per in result["means_ci"].items():
        lines.append(f"| {system} | {result['systems'][system]} | "
                     + " | ".join(_with_ci(per[a]["mean"], per[a]["ci"]) for a in aspects) + " |")
    lines += ["", f"## Agreement: Krippendorff's α (ordinal), {pct} bootstrap CI over items", "",
              "Within a system is what papers report as inter-annotator agreement; pooled over all systems "
              "also counts the differences between systems.", "", head.format("scope | items"), rule]
    for system, per in result["agreement_by_system"].items():
        lines.append(f"| within {system} | {result['systems'][system]} | "
                     + " | ".join(_with_ci(per[a]["alpha"], per[a]["ci"]) for a in aspects) + " |")
    pooled = result["agreement"]
    lines.append(f"| pooled over all systems | {result['items']} | "
                 + " | ".join(_with_ci(pooled[a]["alpha"], pooled[a]["ci"]) for a in aspects) + " |")
    lines += _spearman_lines(result) + _comparison_lines(result) + _annotator_lines(result)
    return "\n".join(lines) + "\n"


def _spearman_lines(result: dict[str, Any]) -> list[str]:
    lines = ["", "## Pairwise Spearman ρ between annotators (pooled, items both rated)", "",
             "| aspect | pairs |", "|---|---|"]
    for a in result["aspects"]:
        rhos = result["agreement"][a]["spearman"]
        lines.append(f"| {a} | " + (", ".join(f"{k}: {_num(v)}" for k, v in rhos.items()) or "–") + " |")
    return lines


def _comparison_lines(result: dict[str, Any]) -> list[str]:
    lines = ["", "## Systems compared on shared posts (Wilcoxon signed-rank, per-post mean ratings)", "",
             "| aspect | A vs B | n shared | n non-zero | mean A − B | W | p |", "|---|---|---|---|---|---|---|"]
    for a in result["aspects"]:
        for c in result["comparisons"][a]:
            lines.append(f"| {a} | {c['a']} vs {c['b']} | {c['n']} | {c['n_nonzero']} | {_num(c['mean_diff'])} | "
                         f"{_num(c['statistic'], 1)} | {_num(c['p'], 4)} |")
    return lines


def _annotator_lines(result: dict[str, Any]) -> list[str]:
    aspects = result["aspects"]
    lines = ["", "## Per-annotator means (the other annotators on the same items in brackets)", "",
             "| annotator | ratings | " + " | ".join(aspects) + " |", "|---|---|" + "---|" * len(aspects)]
    for who, per in result["annotator_means"].items():
        cells = [f"{_num(per[a]['mean'])} ({_num(per[a]['others_mean'])})" for a in aspects]
        lines.append(f"| {who} | {sum(per[a]['n'] for a in aspects)} | " + " | ".join(cells) + " |")
    return lines


def plot(result: dict[str, Any], path: Path) -> Path:
    """Two panels: mean rating per system × aspect, and α within each system and pooled (CIs as bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    aspects, systems = result["aspects"], list(result["means_ci"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = [(axes[0], {s: result["means_ci"][s] for s in systems}, "mean", "mean rating"),
              (axes[1], {**{s: result["agreement_by_system"][s] for s in systems}, POOLED: result["agreement"]},
               "alpha", "Krippendorff's α (ordinal)")]
    for ax, groups, key, title in panels:
        width = 0.8 / max(len(groups), 1)
        for k, (name, per) in enumerate(groups.items()):
            xs = [i + k * width for i in range(len(aspects))]
            ys = [per[a][key] if per[a][key] is not None else np.nan for a in aspects]
            errs = [[y - per[a]["ci"][0] if per[a]["ci"] else 0 for a, y in zip(aspects, ys, strict=True)],
                    [per[a]["ci"][1] - y if per[a]["ci"] else 0 for a, y in zip(aspects, ys, strict=True)]]
            ax.bar(xs, ys, width, yerr=np.clip(np.nan_to_num(errs), 0, None), capsize=2, label=name)
        ax.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(aspects))], aspects)
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
