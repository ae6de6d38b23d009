"""What the next metrics row summarises: sums since the last row, kept in checkpoints so that a run
stopped inside a log interval and resumed writes the same rows, on the same grid, as one that never
stopped."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from imitax.train.loop import StepLog, UpdateLog

_SUMS = ("env_steps", "updates", "games", "score", "length", "seconds")


class Interval:
    """Sums of the steps, games, updates and update metrics since the last metrics row."""

    def __init__(self, metric_names: list[str]):
        self.metric_names = metric_names
        self.reset()

    def reset(self) -> None:
        self.sums = dict.fromkeys(_SUMS, 0.0)
        self.metric_sums = dict.fromkeys(self.metric_names, 0.0)
        self.metric_counts = dict.fromkeys(self.metric_names, 0.0)  # updates that reported each metric

    def add_steps(self, logs: StepLog, seconds: float) -> list[float]:
        """Adds an online chunk's logs; returns the scores of the games that ended in it."""
        over = logs.game_over
        scores = logs.game_score[over]
        updates = float(logs.updates.sum())
        self._add(env_steps=over.size, updates=updates, games=over.sum(), seconds=seconds)
        self._add(score=scores.sum(), length=logs.game_length[over].sum())
        self._add_metrics(logs.metrics, updates)
        return scores.tolist()

    def add_updates(self, log: UpdateLog, seconds: float) -> None:
        """Adds an offline chunk's logs."""
        updates = float(log.updates)
        self._add(updates=updates, seconds=seconds)
        self._add_metrics(log.metrics, updates)

    def _add(self, **values: Any) -> None:
        for name, value in values.items():
            self.sums[name] += float(value)

    def _add_metrics(self, metrics: dict, updates: float) -> None:
        for name, value in metrics.items():
            self.metric_sums[name] += float(np.asarray(value).sum())
            self.metric_counts[name] += updates

    def row(self, base: dict[str, Any]) -> dict[str, Any]:
        """The metrics row of the interval (means per game and per update, speeds), then a new interval."""
        s = self.sums
        row = dict(base)
        row["episodes"] = int(s["games"])
        row["episode_return"] = s["score"] / s["games"] if s["games"] else math.nan
        row["episode_length"] = s["length"] / s["games"] if s["games"] else math.nan
        row["steps_per_s"] = s["env_steps"] / s["seconds"] if s["env_steps"] and s["seconds"] else math.nan
        row["updates_per_s"] = s["updates"] / s["seconds"] if s["updates"] and s["seconds"] else math.nan
        for name in self.metric_names:
            count = self.metric_counts[name]
            row[name] = self.metric_sums[name] / count if count else math.nan
        self.reset()
        return row

    def as_tree(self) -> dict[str, np.ndarray]:
        """The sums as arrays, for a checkpoint."""
        return {
            "sums": {k: np.float64(v) for k, v in self.sums.items()},
            "metric_sums": {k: np.float64(v) for k, v in self.metric_sums.items()},
            "metric_counts": {k: np.float64(v) for k, v in self.metric_counts.items()},
        }

    def load(self, tree: dict[str, Any]) -> None:
        """Takes the sums back from a checkpoint."""
        for part in ("sums", "metric_sums", "metric_counts"):
            getattr(self, part).update({k: float(v) for k, v in tree[part].items()})
