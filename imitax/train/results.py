"""A run's results as numbers, for scripts: `train(config) -> Result`, `load_run(dir)`, `load_runs(dir)`.

The CSV logs hold text; here every column is parsed once into arrays (floats, NaN where a row leaves a
cell blank; `phase` stays text), evaluations into `Evaluation`s with their games' returns, and the
config into its typed dataclass. A run of several seeds is one `Run` per seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imitax.agents.config import AgentConfig
from imitax.train import run_dir as rd
from imitax.train.loading import load_run_config
from imitax.train.runner import train as train_run

TEXT_COLUMNS = ("phase", "returns")


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: whole games played by the greedy (or `eval_epsilon`) policy at a step."""

    step: int
    phase: str
    env_steps: int
    updates: int
    returns: np.ndarray
    """Each game's true score, float (games,)."""
    length_mean: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))


@dataclass(frozen=True)
class Run:
    """One run directory (one seed), read back."""

    path: Path
    algo: str
    config: AgentConfig
    record: dict[str, Any]
    """Everything `config.json` holds: settings, environments, packages, git state."""
    metrics: dict[str, np.ndarray]
    """`metrics.csv` by column: numbers as float arrays (NaN where blank), `phase` as text."""
    evaluations: list[Evaluation]

    @property
    def final(self) -> Evaluation | None:
        """The last evaluation (the final one of a finished run)."""
        return self.evaluations[-1] if self.evaluations else None

    def metrics_frame(self) -> Any:
        """`metrics` as a pandas DataFrame.

        Raises:
          ImportError: pandas is not installed (the message says how to install it).
        """
        try:
            import pandas
        except ImportError:
            message = "metrics_frame needs pandas: pip install pandas (run.metrics holds the same columns)"
            raise ImportError(message) from None
        return pandas.DataFrame(self.metrics)


@dataclass(frozen=True)
class Result:
    """What `train` did: where, how far, and every seed's run read back."""

    run_dir: Path
    runs: list[Run]
    env_steps: int
    updates: int
    interrupted: bool

    @property
    def final_returns(self) -> list[np.ndarray]:
        """Each seed's final evaluation returns (empty where a seed has none)."""
        return [r.final.returns if r.final else np.zeros(0) for r in self.runs]


def load_run(path: str | Path) -> Run:
    """The run in `path`, its metrics and evaluations as numbers.

    Raises:
      RunDirError: no run there, a damaged record, or a root of several seeds (`load_runs` reads those).
    """
    path = Path(path)
    seeds = rd.seed_dirs(path)
    if seeds:
        raise rd.RunDirError(
            f"{path} holds a run of {len(seeds)} seeds: load_runs({str(path)!r}) reads each, or "
            f"load_run({str(seeds[0])!r}) one."
        )
    algo, config = load_run_config(path)
    metrics = _columns(rd.read_rows(path / rd.METRICS_FILE))
    evaluations = [_evaluation(row) for row in rd.read_rows(path / rd.EVAL_FILE)]
    return Run(path, algo, config, rd.load_run_record(path), metrics, evaluations)


def load_runs(path: str | Path) -> list[Run]:
    """Every seed's run of `path` (a run of several seeds), or the one run it holds."""
    path = Path(path)
    return [load_run(p) for p in rd.seed_dirs(path) or [path]]


def train(config: AgentConfig, *, resume: bool = False, quiet: bool = False) -> Result:
    """Trains `config` (as `imitax train` does) and reads every seed's run back.

    Raises: as `imitax.train.runner.train`.
    """

    done = train_run(config, resume=resume, quiet=quiet)
    return Result(done.run_dir, load_runs(done.run_dir), done.env_steps, done.updates, done.interrupted)


def _columns(rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    if not rows:
        return {}
    columns = {}
    for name in rows[0]:
        cells = [row[name] for row in rows]
        if name in TEXT_COLUMNS:
            columns[name] = np.array(cells)
        else:
            columns[name] = np.array([float(c) if c not in ("", None) else np.nan for c in cells])
    return columns


def _evaluation(row: dict[str, str]) -> Evaluation:
    return Evaluation(
        step=int(row["step"]),
        phase=row["phase"],
        env_steps=int(row["env_steps"]),
        updates=int(row["updates"]),
        returns=np.array([float(r) for r in row["returns"].split()]),
        length_mean=float(row["length_mean"]),
    )
