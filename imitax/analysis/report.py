"""The report over finished runs behind `imitax report RUN_DIR...`: each run's final evaluation, its
human-normalised score, and each algorithm's aggregates over games and seeds with confidence intervals.

A run's score is the mean return of its last evaluation (the last row of its eval.csv). Runs are grouped by
their algorithm. Games without human reference scores (CartPole, Atari games outside the 57) are reported
with their raw returns and left out of the aggregates, which the report says.
"""

from __future__ import annotations

import collections
import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from imitax.analysis.aggregate import METRIC_TITLES, METRICS, Aggregates, aggregate, plot_aggregates
from imitax.analysis.scores import has_reference_scores, human_normalized
from imitax.train.run_dir import CONFIG_FILE, EVAL_FILE, RunDirError, holds_run, load_run_record, read_rows

RUNS_FILE = "runs.csv"
AGGREGATES_FILE = "aggregates.csv"
PLOT_FILE = "aggregates.png"
RUN_COLUMNS = [
    "algo",
    "game",
    "seed",
    "step",
    "env_steps",
    "return_mean",
    "return_std",
    "episodes",
    "human_normalized",
    "preset",
    "eval_epsilon",
    "max_episode_frames",
    "run_dir",
]
AGGREGATE_COLUMNS = [
    "algo",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "confidence",
    "runs",
    "games",
    "reps",
    "seed",
]


@dataclass(frozen=True)
class RunScore:
    """One run's final evaluation and how it was evaluated."""

    run_dir: Path
    algo: str
    game: str
    seed: int
    step: int
    """The run's step at its last evaluation (offline updates plus environment steps)."""
    env_steps: int
    return_mean: float
    """Mean true (unclipped) game score of the evaluation episodes."""
    return_std: float
    episodes: int
    human_normalized: float | None
    """None for a game without reference scores."""
    preset: str | None
    """The evaluation environment's preset (nature, machado); None for a non-Atari task."""
    eval_epsilon: float
    max_episode_frames: int | None
    """Emulator frames after which an evaluation episode was cut; None for a non-Atari task."""

    @property
    def short_protocol(self) -> str:
        return f"{self.preset or '-'} ε={self.eval_epsilon:g}"

    @property
    def protocol(self) -> str:
        if self.preset is None:
            return f"ε={self.eval_epsilon:g}"
        return f"{self.preset}, ε={self.eval_epsilon:g}, ≤{self.max_episode_frames:,} frames"


@dataclass(frozen=True)
class Report:
    runs: list[RunScore]
    aggregates: dict[str, Aggregates]
    """Per algorithm, over its games with reference scores; absent for an algorithm with none."""
    games: dict[str, list[str]]
    """Per algorithm, the games its aggregates cover, in the order of the score matrix's columns."""
    notes: list[str]
    files: list[Path]


# -- reading runs ------------------------------------------------------------------------------------------


def _not_a_run(path: Path) -> RunDirError:
    if not path.exists():
        return RunDirError(f"{path} does not exist. Pass the run directories `imitax train` wrote.")
    if not path.is_dir():
        return RunDirError(
            f"{path} is a file, not a run directory. Pass the run directories `imitax train` wrote."
        )
    inside = sorted(p.parent.name for p in path.glob(f"*/{CONFIG_FILE}"))
    hint = (
        f" It holds {len(inside)} run{'s' * (len(inside) > 1)} ({', '.join(inside[:3])}"
        f"{', ...' if len(inside) > 3 else ''}): pass them, e.g. {path / '*'}."
        if inside
        else " Pass the run directories `imitax train` wrote (each holds config.json)."
    )
    return RunDirError(f"{path} is not a run directory ({CONFIG_FILE} is missing).{hint}")


def _number(path: Path, row: dict[str, str], name: str) -> float:
    try:
        value = float(row[name])
    except (KeyError, TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise RunDirError(
            f"{path / EVAL_FILE}: its last row has no valid {name!r} ({row.get(name)!r}). The file is "
            "damaged: leave this run out, or resume the run to evaluate it again."
        )
    return value


def read_run(path: str | Path) -> RunScore:
    """The final evaluation of the run in `path`.

    Raises:
      RunDirError: no run there, a damaged record, or no evaluation yet; the message says what to do.
    """
    path = Path(path)
    if not holds_run(path):
        raise _not_a_run(path)
    try:
        record = load_run_record(path)
    except RunDirError as err:
        raise RunDirError(f"{err} Or leave this run out.") from None
    config: dict[str, Any] = record.get("config") or {}
    eval_env: dict[str, Any] = record.get("eval_env") or {}
    missing = [
        name
        for name, found in (("algo", record), ("config.env", config), ("config.seed", config))
        if name.removeprefix("config.") not in found
    ]
    if missing:
        raise RunDirError(
            f"{path / CONFIG_FILE} lacks {', '.join(missing)}: it is not a record `imitax train` wrote. "
            "Leave this directory out."
        )
    rows = read_rows(path / EVAL_FILE)
    if not rows:
        raise RunDirError(
            f"{path} has no evaluation yet ({EVAL_FILE} has no rows). Let the run reach its first "
            f"evaluation (--eval-every), resume it with `imitax train {record['algo']} --resume {path}`, or "
            "leave it out."
        )
    last = rows[-1]
    game = (record.get("env") or {}).get("name") or eval_env.get("name") or config["env"]
    return_mean = _number(path, last, "return_mean")
    preset = eval_env.get("preset")
    return RunScore(
        run_dir=path,
        algo=record["algo"],
        game=game,
        seed=int(config["seed"]),
        step=int(_number(path, last, "step")),
        env_steps=int(_number(path, last, "env_steps")),
        return_mean=return_mean,
        return_std=_number(path, last, "return_std"),
        episodes=int(_number(path, last, "episodes")),
        human_normalized=float(human_normalized(game, return_mean)) if has_reference_scores(game) else None,
        preset=preset["name"] if preset else None,
        eval_epsilon=float(config.get("eval_epsilon", math.nan)),
        max_episode_frames=preset.get("max_episode_frames") if preset else None,
    )


def collect_runs(run_dirs: Sequence[str | Path]) -> list[RunScore]:
    """The final evaluations of the runs in `run_dirs`, sorted by algorithm, game and seed.

    Raises:
      RunDirError: no directories, one that is not a run or has no evaluation, or the same algorithm, game
        and seed twice (runs of different settings are reported separately).
    """
    if not run_dirs:
        raise RunDirError("No run directories given: pass one or more, e.g. `imitax report runs/dqn-*`.")
    runs = [read_run(path) for path in run_dirs]
    seen: dict[tuple[str, str, int], Path] = {}
    for run in runs:
        key = (run.algo, run.game, run.seed)
        if key in seen:
            same = seen[key].resolve() == run.run_dir.resolve()
            if same:
                raise RunDirError(f"{seen[key]} was given twice.")
            raise RunDirError(
                f"{seen[key]} and {run.run_dir} are both {run.algo} on {run.game} with seed {run.seed}. "
                "The report groups runs by algorithm: pass one of them, and report runs of other settings "
                "separately."
            )
        seen[key] = run.run_dir
    return sorted(runs, key=lambda r: (r.algo, r.game, r.seed))


def score_matrices(runs: Sequence[RunScore]) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Per algorithm, its (runs, games) human-normalised scores over its games with reference scores (row i:
    each game's i-th seed in order), and those games.

    Raises:
      ValueError: an algorithm has different numbers of runs on different games.
    """
    by_algo: dict[str, dict[str, list[RunScore]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for run in runs:
        if run.human_normalized is not None:
            by_algo[run.algo][run.game].append(run)
    matrices, games = {}, {}
    for algo, per_game in by_algo.items():
        counts = {game: len(game_runs) for game, game_runs in sorted(per_game.items())}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{game} {n}" for game, n in counts.items())
            raise ValueError(
                f"{algo} has different numbers of runs per game ({listed}); the aggregates need the same "
                "number on every game. Pass the same number of seeds for each game."
            )
        games[algo] = sorted(per_game)
        columns = [sorted(per_game[game], key=lambda r: r.seed) for game in games[algo]]
        matrices[algo] = np.array([[r.human_normalized for r in column] for column in columns]).T
    return matrices, games


def _notes(runs: Sequence[RunScore], games: dict[str, list[str]]) -> list[str]:
    notes = []
    unreferenced = sorted({r.game for r in runs if r.human_normalized is None})
    if unreferenced:
        notes.append(
            f"No human reference scores for {', '.join(unreferenced)}: shown with raw returns and left out "
            "of the aggregates."
        )
    if len({tuple(g) for g in games.values()}) > 1:
        listed = "; ".join(f"{algo}: {', '.join(g)}" for algo, g in games.items())
        notes.append(f"The algorithms were aggregated over different games ({listed}): not comparable.")
    protocols = sorted({r.protocol for r in runs})
    if len(protocols) > 1:
        notes.append(
            f"The runs were evaluated under different protocols ({' | '.join(protocols)}): scores from "
            "different protocols are not comparable."
        )
    for algo in sorted({r.algo for r in runs}):
        steps = sorted({r.env_steps for r in runs if r.algo == algo})
        if len(steps) > 1:
            listed = ", ".join(f"{s:,}" for s in steps)
            notes.append(
                f"{algo}'s final evaluations come at different environment steps ({listed}): some runs may "
                "not have finished."
            )
    return notes


# -- the report --------------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows({k: _cell(row.get(k)) for k in columns} for row in rows)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a directory. Choose another --out.")
    if holds_run(out_dir):
        raise ValueError(f"--out {out_dir} holds a run; the report would mix with it. Choose another --out.")


def report(
    run_dirs: Sequence[str | Path],
    out_dir: str | Path,
    reps: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    console: Any = None,
) -> Report:
    """Prints the report over `run_dirs` and writes runs.csv, aggregates.csv and aggregates.png into
    `out_dir` (aggregates.png only when some game has reference scores). On bad input it raises before
    writing anything.

    Raises:
      ValueError (RunDirError among them): the message says what is wrong and what to do.
    """
    from rich.console import Console

    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    runs = collect_runs(run_dirs)
    matrices, games = score_matrices(runs)
    aggregates = aggregate(matrices, reps=reps, seed=seed, confidence=confidence) if matrices else {}
    notes = _notes(runs, games)
    if not aggregates:
        notes.append("No game has human reference scores: no aggregates.")

    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / RUNS_FILE, out_dir / AGGREGATES_FILE]
    _write_csv(files[0], RUN_COLUMNS, [{**vars(r), "run_dir": str(r.run_dir)} for r in runs])
    rows = [
        {
            "algo": algo,
            "metric": metric,
            "value": est.value,
            "ci_low": est.low,
            "ci_high": est.high,
            "confidence": agg.confidence,
            "runs": agg.runs,
            "games": agg.games,
            "reps": agg.reps,
            "seed": seed,
        }
        for algo, agg in aggregates.items()
        for metric, est in agg.estimates().items()
    ]
    _write_csv(files[1], AGGREGATE_COLUMNS, rows)
    plot = out_dir / PLOT_FILE
    if aggregates:
        files.append(plot_aggregates(aggregates, plot))
    else:
        plot.unlink(missing_ok=True)  # an earlier report's plot would not be this one's

    result = Report(runs=runs, aggregates=aggregates, games=games, notes=notes, files=files)
    _print(result, seed, console or Console())
    return result


def _print(result: Report, seed: int, console: Any) -> None:
    from rich import box
    from rich.table import Table

    protocols = {r.protocol for r in result.runs}
    mixed = len(protocols) > 1
    table = Table(
        title="Final evaluations",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=None if mixed else f"evaluated with {protocols.pop()}",
    )
    columns = ["algo", "game", "seed", "env steps", "return", "normalised", *(["protocol"] * mixed)]
    fixed = {"seed", "env steps", "return", "normalised"}
    for name in columns:
        left = name in ("algo", "game", "protocol")
        width = 13 if name == "protocol" else None
        table.add_column(name, justify="left" if left else "right", min_width=width, no_wrap=name in fixed)
    for r in result.runs:
        normalized = "n/a" if r.human_normalized is None else f"{r.human_normalized:.3f}"
        cells = [r.algo, r.game, str(r.seed), f"{r.env_steps:,}"]
        cells += [f"{r.return_mean:.2f} ± {r.return_std:.2f}", normalized]
        table.add_row(*cells, *([r.short_protocol] * mixed))  # the note spells the protocols out
    console.print(table)
    if result.aggregates:
        first = next(iter(result.aggregates.values()))
        table = Table(
            title="Human-normalised aggregates",
            box=box.SIMPLE_HEAD,
            caption=f"{round(100 * first.confidence)}% stratified bootstrap intervals over runs "
            f"({first.reps:,} reps, seed {seed})",
        )
        for name in ("algo", "runs x games", "metric", "estimate", "interval"):
            table.add_column(name, justify="left" if name in ("algo", "metric") else "right")
        for algo, agg in result.aggregates.items():
            for i, (metric, est) in enumerate(agg.estimates().items()):
                size = f"{agg.runs} x {agg.games}"
                table.add_row(
                    algo if i == 0 else "",
                    size if i == 0 else "",
                    METRIC_TITLES[metric],
                    f"{est.value:.3f}",
                    f"[{est.low:.3f}, {est.high:.3f}]",
                    end_section=i == len(METRICS) - 1,
                )
        console.print(table)
    for note in result.notes:
        console.print(f"Note: {note}", highlight=False)
    console.print(
        f"Wrote {', '.join(p.name for p in result.files)} to {result.files[0].parent}", highlight=False
    )


# -- the command -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportArgs:
    """Report runs' final evaluations, human-normalised, and each algorithm's aggregates over games and
    seeds (median, IQM, mean, optimality gap) with stratified bootstrap confidence intervals (Agarwal et al.
    2021)."""

    run_dirs: Annotated[tyro.conf.Positional[tuple[str, ...]], tyro.conf.arg(metavar="RUN_DIR...")]
    """Run directories, one per run (algorithm, game and seed), e.g. runs/dqn-*."""
    out: str = "report"
    """Directory for runs.csv, aggregates.csv and aggregates.png (made if missing; their files replaced)."""
    reps: int = 2000
    """Bootstrap replicates per interval (Agarwal et al. publish with 50,000)."""
    seed: int = 0
    """Seeds the bootstrap's resampling: the same seed gives the same intervals."""

    def __post_init__(self) -> None:
        if self.reps < 1:
            raise ValueError(f"--reps must be >= 1, got {self.reps}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")


def report_command(args: ReportArgs) -> int:
    report(args.run_dirs, args.out, reps=args.reps, seed=args.seed)
    return 0
