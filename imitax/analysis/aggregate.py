"""Aggregate scores over games and seeds with interval estimates, after Agarwal et al. 2021, "Deep
Reinforcement Learning at the Edge of the Statistical Precipice".

Each algorithm's scores are a (runs, games) array of human-normalised final scores. The four aggregates are
rliable's (`rliable.metrics`): the median and the mean of the per-game mean scores, the interquartile mean
(IQM, the mean of the middle 50% of all runs' scores) and the optimality gap (how far scores fall short of
human level, 1, on average). Their confidence intervals come from the stratified bootstrap of
`rliable.library.get_interval_estimates` (percentile method): each replicate redraws, game by game, that
game's runs with replacement.

The bootstrap is written out here rather than called from `rliable.library`, for one reason: rliable draws
its resamples from NumPy's global random state (`np.random.choice`), whatever `random_state` it is given.
Here they come from a `np.random.RandomState(seed)` of their own, drawn in the same order, so a seed gives
the same intervals every time, untouched by other code, and the same intervals as `rliable.library` after
`np.random.seed(seed)` (the tests check both).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from rliable import metrics

METRICS: dict[str, Callable[[np.ndarray], float]] = {
    "median": metrics.aggregate_median,
    "iqm": metrics.aggregate_iqm,
    "mean": metrics.aggregate_mean,
    "optimality_gap": metrics.aggregate_optimality_gap,
}
"""Each aggregate, from a (runs, games) array to a number (rliable's definitions)."""

METRIC_TITLES = {"median": "Median", "iqm": "IQM", "mean": "Mean", "optimality_gap": "Optimality gap"}


@dataclass(frozen=True)
class Estimate:
    value: float
    """The aggregate of the scores themselves."""
    low: float
    """Lower end of the confidence interval."""
    high: float
    """Upper end of the confidence interval."""


@dataclass(frozen=True)
class Aggregates:
    """One algorithm's aggregates, each with its confidence interval."""

    median: Estimate
    iqm: Estimate
    mean: Estimate
    optimality_gap: Estimate
    runs: int
    """Runs per game."""
    games: int
    reps: int
    """Bootstrap replicates behind the intervals."""
    confidence: float
    """Coverage of the intervals (0.95: 95% intervals)."""

    def estimates(self) -> dict[str, Estimate]:
        return {name: getattr(self, name) for name in METRICS}


def _score_matrix(name: str, scores: ArrayLike) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(
            f"Scores of {name!r} must be a (runs, games) array with at least one of each, got shape "
            f"{array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"Scores of {name!r} hold NaN or infinite values; every run needs a finite score.")
    return array


def stratified_bootstrap(
    scores: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], reps: int, seed: int
) -> np.ndarray:
    """`statistic` of `reps` replicates of a (runs, games) array, each redrawing every game's runs with
    replacement (rliable's `StratifiedBootstrap`, without task bootstrap); (reps, *statistic's shape)."""
    runs, games = scores.shape
    rng = np.random.RandomState(seed)  # rliable's draws, in its order: see the module docstring
    columns = np.arange(games)[None, :]
    return np.stack(
        [statistic(scores[rng.choice(runs, (runs, games), replace=True), columns]) for _ in range(reps)]
    )


def aggregate(
    scores: Mapping[str, ArrayLike], reps: int = 2000, seed: int = 0, confidence: float = 0.95
) -> dict[str, Aggregates]:
    """The aggregates of each algorithm's (runs, games) human-normalised scores, with stratified bootstrap
    percentile intervals of `confidence` coverage over `reps` replicates.

    Every algorithm's bootstrap starts from the same `seed`, so its intervals do not depend on which other
    algorithms are reported with it. Agarwal et al. use 50,000 replicates for published intervals; 2,000 give
    interval ends to about a percent of their width.
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if not scores:
        raise ValueError("No scores to aggregate: give at least one algorithm's (runs, games) array.")

    def statistic(x: np.ndarray) -> np.ndarray:
        return np.array([metric(x) for metric in METRICS.values()])

    alpha = 100 * (1.0 - confidence) / 2
    out = {}
    for name, raw in scores.items():
        matrix = _score_matrix(name, raw)
        values = statistic(matrix)
        replicates = stratified_bootstrap(matrix, statistic, reps, seed)  # (reps, metrics)
        low, high = np.percentile(replicates, [alpha, 100 - alpha], axis=0)
        estimates = {
            metric: Estimate(float(values[i]), float(low[i]), float(high[i]))
            for i, metric in enumerate(METRICS)
        }
        out[name] = Aggregates(
            **estimates, runs=matrix.shape[0], games=matrix.shape[1], reps=reps, confidence=confidence
        )
    return out


def plot_aggregates(results: Mapping[str, Aggregates], path: str | Path, title: str | None = None) -> Path:
    """Writes a PNG of the aggregates: one panel per metric, one row per algorithm, the interval as a bar
    and the estimate as a tick (the layout of rliable's `plot_interval_estimates`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not results:
        raise ValueError("No aggregates to plot.")
    names = list(results)
    figure = Figure(figsize=(3.2 * len(METRICS), 1.3 + 0.45 * len(names)), layout="constrained")
    FigureCanvasAgg(figure)  # renders without pyplot, whatever backend the process has chosen
    axes = figure.subplots(1, len(METRICS), sharey=True)
    colors = [f"C{i % 10}" for i in range(len(names))]
    for ax, metric in zip(axes, METRICS, strict=True):
        for row, name in enumerate(names):
            est = getattr(results[name], metric)
            ax.barh(row, est.high - est.low, left=est.low, height=0.6, color=colors[row], alpha=0.75)
            ax.vlines(est.value, row - 0.3, row + 0.3, color="black", linewidth=1.5)
        ax.set_title(METRIC_TITLES[metric])
        ax.set_xlabel("human-normalised score")
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right", "left"]].set_visible(False)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    first = results[names[0]]
    figure.suptitle(
        title or f"{round(100 * first.confidence)}% stratified bootstrap intervals ({first.reps:,} reps)"
    )
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path
