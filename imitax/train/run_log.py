"""One writer for what a run reports: its metrics rows and evaluations, each sent to every sink of each
seed (metrics.csv and eval.csv, TensorBoard, Weights & Biases) and to the progress line."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imitax.disk import DiskFullError, disk_full_error, is_disk_full
from imitax.train import run_dir as rd
from imitax.train.progress import TrainProgress

EVAL_COLUMNS = ["step", "phase", "env_steps", "updates", "return_mean", "return_std", "return_min"]
EVAL_COLUMNS += ["return_max", "length_mean", "episodes", "returns"]


@dataclass
class _Sinks:
    """Where one seed's rows go."""

    path: Path
    metrics: rd.CsvLog
    evals: rd.CsvLog
    tensorboard: Any
    wandb: Any
    """The seed's Weights & Biases run, when --wandb-project asks for one."""


class RunLog:
    """Each seed's rows and evaluations, written once to every sink, and the run's progress line.

    Args:
      paths: each seed's run directory.
      records: each seed's run record (Weights & Biases gets it as the run's config).
      columns: the metrics columns, in order.
      step: the run's step now; a resumed run's rows after it are taken back (they are redone).
      resumed: whether the run continues an earlier process's rows.
      progress: the live progress line.
      wandb_project: a Weights & Biases project to log to as well, or None.
    """

    def __init__(
        self,
        paths: list[Path],
        records: list[dict[str, Any]],
        columns: list[str],
        step: int,
        resumed: bool,
        progress: TrainProgress,
        wandb_project: str | None = None,
    ):
        self.progress = progress
        self._sinks = [
            _open_sinks(path, record, columns, step, resumed, wandb_project)
            for path, record in zip(paths, records, strict=True)
        ]
        self._recent = [collections.deque(maxlen=20) for _ in paths]

    def add_scores(self, seed: int, scores: list[float]) -> None:
        """Scores of games a seed finished: the progress line shows the mean of the last 20."""
        self._recent[seed].extend(scores)

    def row(self, seed: int, row: dict[str, Any]) -> None:
        """A metrics row of one seed; the last seed's also moves the progress line."""
        sinks = self._sinks[seed]
        sinks.metrics.append(row)
        scalars = {
            f"train/{name}": value
            for name, value in row.items()
            if name not in ("step", "phase") and isinstance(value, int | float) and not math.isnan(value)
        }
        for name, value in scalars.items():
            sinks.tensorboard.add_scalar(name, value, row["step"])
        if sinks.wandb is not None:
            sinks.wandb.log(scalars, step=row["step"])
        if seed == len(self._sinks) - 1:
            self._show(row)

    def evaluation(self, seed: int, row: dict[str, Any], summary: dict[str, float]) -> None:
        """An evaluation of one seed: its row (`EVAL_COLUMNS`) and its summary figures."""
        sinks = self._sinks[seed]
        sinks.evals.append(row)
        for name in ("return_mean", "return_std"):
            sinks.tensorboard.add_scalar(f"eval/{name}", summary[name], row["step"])
        if sinks.wandb is not None:
            sinks.wandb.log({f"eval/{k}": v for k, v in summary.items()}, step=row["step"])

    def message(self, text: str) -> None:
        self.progress.message(text)

    def _show(self, row: dict[str, Any]) -> None:
        speeds = [(row.get(f"{unit}_per_s"), unit) for unit in ("steps", "updates")]
        known = [(v, unit) for v, unit in speeds if isinstance(v, int | float) and not math.isnan(v)]
        speed, unit = known[0] if known else (0.0, "steps")
        recent = [score for scores in self._recent for score in scores]
        self.progress.update(row["step"], speed, np.mean(recent) if recent else None, unit)

    def close(self) -> DiskFullError | None:
        """Closes every sink; TensorBoard's last flush onto a full disk comes back as an error to raise
        (when nothing else is being raised), not as a traceback."""
        self.progress.close()
        full = None
        for sinks in self._sinks:
            try:
                sinks.tensorboard.close()
            except OSError as err:
                if not is_disk_full(err):
                    raise
                where, intact = sinks.path / "tb", "The rows are intact."
                full = disk_full_error(where, "TensorBoard's events", None, intact)
            if sinks.wandb is not None:
                sinks.wandb.finish()
        return full


def _open_sinks(
    path: Path,
    record: dict[str, Any],
    columns: list[str],
    step: int,
    resumed: bool,
    wandb_project: str | None,
) -> _Sinks:
    from tensorboardX import SummaryWriter  # slow to import: only runs that write need it

    metrics = rd.CsvLog(path / rd.METRICS_FILE, columns)
    evals = rd.CsvLog(path / rd.EVAL_FILE, EVAL_COLUMNS)
    if resumed:
        metrics.truncate_after(step)
        evals.truncate_after(step)
    tensorboard = SummaryWriter(str(path / "tb"), purge_step=step or None)
    wandb = None
    if wandb_project:
        wandb = import_wandb().init(
            project=wandb_project,
            name=path.name,
            id=f"{path.name}-{record['created']}".replace(":", ""),
            resume="allow",
            dir=str(path),
            config=record,
            reinit="create_new",
        )
    return _Sinks(path, metrics, evals, tensorboard, wandb)


def import_wandb():
    """The wandb module, or a message saying how to get it."""
    try:
        import wandb
    except ImportError:
        raise ValueError(
            "--wandb-project logs to Weights & Biases, which is not installed: pip install wandb "
            "(or drop --wandb-project; TensorBoard logs are always written)"
        ) from None
    return wandb
