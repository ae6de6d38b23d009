"""The `imitax` command: `imitax <command> [subcommand] [--flags]`. Every config field is a flag."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import tyro

import imitax
from imitax.agents.algorithms import ALGORITHMS
from imitax.flags import parse, parse_train

Handler = Callable[[list[str], str], int]


@dataclass(frozen=True)
class Command:
    summary: str
    handler: Handler


# -- imitax train <algo> ----------------------------------------------------------------------------------


def _train(name: str) -> Handler:
    def handler(argv: list[str], prog: str) -> int:
        from imitax.train.runner import train

        config, resume, allow_divergence = parse_train(argv, prog, ALGORITHMS[name])
        result = train(config, resume=resume, allow_divergence=allow_divergence)
        if result.interrupted:
            return 130
        if result.final_eval is not None:
            ev = result.final_eval
            print(
                f"Final evaluation after {result.env_steps:,} environment steps and {result.updates:,} "
                f"updates: return {ev.mean:.2f} ± {ev.std:.2f} over {len(ev.returns)} games. "
                f"Run directory: {result.run_dir}"
            )
        return 0

    return handler


# -- imitax games ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GamesArgs:
    """List the Atari games and vector tasks imitax runs."""

    json: bool = False
    """Print JSON instead of columns."""


def _games(argv: list[str], prog: str) -> int:
    from imitax.envs import VECTOR_TASKS, all_games

    args = parse(GamesArgs, argv, prog)
    names = all_games()
    if args.json:
        print(json.dumps({"atari": names, "vector": list(VECTOR_TASKS)}))
        return 0
    width = max(map(len, names)) + 2
    per_line = max(1, 100 // width)
    for i in range(0, len(names), per_line):
        print("".join(n.ljust(width) for n in names[i : i + per_line]))
    print(f"\nVector tasks: {', '.join(VECTOR_TASKS)}")
    return 0


@dataclass(frozen=True)
class EvalArgs:
    """Play whole games with a run's checkpoint and report the true game scores."""

    run_dir: tyro.conf.Positional[str]
    """The run directory."""
    episodes: int = 10
    """Games, played in parallel."""
    epsilon: float = 0.05
    """Exploration rate while playing."""
    step: int | None = None
    """Checkpoint step (default: the latest)."""
    seed: int = 12345
    """Seeds the evaluation environments and exploration."""
    sticky_actions: bool = False
    """Play as Machado et al. 2018 ask (sticky actions 0.25, one no-op, no FIRE at reset), with the run's
    own action set and frames: how the policy holds up when its actions sometimes do not take."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {self.episodes}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"--epsilon must be in [0, 1], got {self.epsilon}")
        if self.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {self.seed}")


def _eval(argv: list[str], prog: str) -> int:
    from imitax.train.evaluation import evaluate_run

    args = parse(EvalArgs, argv, prog)
    result, step = evaluate_run(
        args.run_dir, args.episodes, args.epsilon, args.step, args.seed, sticky_actions=args.sticky_actions
    )
    print(
        json.dumps(
            {
                "run_dir": args.run_dir,
                "step": step,
                "epsilon": args.epsilon,
                "sticky_actions": args.sticky_actions,
                **result.summary(),
                "returns": result.returns.tolist(),
            }
        )
    )
    return 0


# -- imitax record ... ------------------------------------------------------------------------------------


def _record_human(argv: list[str], prog: str) -> int:
    from imitax.data.human import DisplayError, HumanRecordConfig, record_human

    try:
        report = record_human(parse(HumanRecordConfig, argv, prog))
    except DisplayError as err:
        raise ValueError(str(err)) from None
    print(report.summary())
    return 130 if report.interrupted else 0


def _record_expert(argv: list[str], prog: str) -> int:
    from imitax.data.record import ExpertRecordConfig, record_expert

    report = record_expert(parse(ExpertRecordConfig, argv, prog))
    print(report.summary())
    return 130 if report.interrupted else 0


def _record_agent(argv: list[str], prog: str) -> int:
    from imitax.data.record import AgentRecordConfig, record_agent

    report = record_agent(parse(AgentRecordConfig, argv, prog))
    print(report.summary())
    return 130 if report.interrupted else 0


@dataclass(frozen=True)
class ExpertsArgs:
    """List the built-in experts and the games they play."""


def _experts(argv: list[str], prog: str) -> int:
    from imitax.experts import available_experts, default_expert

    parse(ExpertsArgs, argv, prog)
    for name, games in available_experts().items():
        defaults = [g for g in games if default_expert(g) == name]
        mark = f"  (default for {', '.join(defaults)})" if defaults else ""
        print(f"{name:<24}{', '.join(games)}{mark}")
    print(f"{'RUN_DIR':<24}the game a trained imitax agent played: --expert RUN_DIR makes it the teacher")
    return 0


# -- imitax data ... ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InfoArgs:
    """Show what a demonstration dataset holds: episodes, steps, returns, actions, source, preset."""

    dataset: tyro.conf.Positional[str]
    """The dataset directory."""
    json: bool = False
    """Print JSON instead of a table."""


def _data_info(argv: list[str], prog: str) -> int:
    from imitax.data.dataset import load_dataset
    from imitax.data.inspect import dataset_info

    args = parse(InfoArgs, argv, prog)
    info = dataset_info(load_dataset(args.dataset))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print_info(info)
    for index, why in info["unreadable"].items():
        print(f"{prog}: episode {index} cannot be read ({why}).", file=sys.stderr)
    if info["unreadable"]:
        print(
            f"{prog}: {len(info['unreadable'])} of {info['episodes']} episodes are damaged; "
            f"`imitax data verify {args.dataset}` says more.",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_info(info: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=info["path"], show_header=False)
    source = info["source"]
    noise = info.get("noise") or {}
    rows = [
        ("game", info["game"]),
        ("preset", info["preset"]),
        ("source", f"{source['kind']}: {source['name']}"),
        ("noise", f"p = {noise.get('p', 0)} ({noise.get('kind', 'uniform')})" if noise.get("p") else "none"),
        ("episodes", f"{info['episodes']:,}"),
        ("steps", f"{info['steps']:,}"),
        (
            "return",
            "n/a"
            if info["return_mean"] is None
            else f"mean {info['return_mean']:.2f}, min {info['return_min']:g}, max {info['return_max']:g}",
        ),
        ("extras", ", ".join(info["extras"]) or "none"),
        (
            "disk",
            f"{info['disk_bytes'] / 2**20:.2f} MiB"
            + (f", {info['disk_bytes_per_step']:,.0f} bytes/step" if info["disk_bytes_per_step"] else ""),
        ),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    total = max(1, info["steps"])
    histogram = Table(title="actions", show_header=True)
    histogram.add_column("action")
    histogram.add_column("steps", justify="right")
    histogram.add_column("share", justify="right")
    for name, count in info["actions"].items():
        histogram.add_row(
            name, f"{count:,}", f"{100 * count / total:5.1f}%  " + "#" * round(30 * count / total)
        )
    console = Console()
    console.print(table)
    console.print(histogram)


@dataclass(frozen=True)
class VerifyArgs:
    """Check a dataset's integrity: every episode readable, shapes, dtypes, actions, flags, frame order."""

    dataset: tyro.conf.Positional[str]
    """The dataset directory."""
    repair: bool = False
    """Pad a truncated file so the episodes before the cut are readable again (keeps a .bak copy)."""


def _data_verify(argv: list[str], prog: str) -> int:
    from imitax.data.dataset import load_dataset
    from imitax.data.inspect import repair_truncated, verify_dataset

    args = parse(VerifyArgs, argv, prog)
    load_dataset(args.dataset)  # no dataset there at all: a message, not a report of problems
    if args.repair:
        backup = repair_truncated(args.dataset)
        print(f"Repaired; the original is kept as {backup}.")
    report = verify_dataset(args.dataset)
    for problem in report.problems:
        print(f"PROBLEM {problem}")
    if report.ok:
        print(f"OK: {report.episodes} episodes, all sound.")
        return 0
    print(f"{len(report.sound)} of {report.episodes} episodes are sound: {report.sound}")
    return 1


@dataclass(frozen=True)
class ImportAgcArgs:
    """Import Atari Grand Challenge trajectories (Kurin et al. 2017) into a demonstration dataset."""

    root: tyro.conf.Positional[str]
    """The dataset's folder, holding trajectories/ and screens/."""
    out: str
    """The new dataset's directory."""
    game: str | None = None
    """Game in any spelling (spaceinvaders, qbert, mspacman, pinball, revenge); default: the only one."""
    env_preset: str = "nature"
    """Preprocessing preset the frames are made for."""
    trajectories: tuple[str, ...] = ()
    """Trajectory numbers to import (default: all)."""
    keep_rgb: bool = False
    """Also store each observation's raw screen (about 100 kB a step)."""
    unknown_action: Literal["error", "noop", "nearest"] = "error"
    """An action the game's action set lacks: stop with an error, play NOOP, or the nearest action."""


@dataclass(frozen=True)
class ImportAtariHeadArgs:
    """Import Atari-HEAD trials (Zhang et al. 2019), gaze included, into a demonstration dataset."""

    source: tyro.conf.Positional[str]
    """A trial's .tar.bz2 or extracted folder (with its .txt label file beside it), or a folder of trials."""
    out: str
    """The new dataset's directory."""
    game: str | None = None
    """Game in any spelling (default: from the folder name)."""
    env_preset: str = "nature"
    """Preprocessing preset the frames are made for."""
    frames_per_row: int = 4
    """Emulator frames each label row stands for (an assumption: the dataset does not say)."""
    keep_rgb: bool = False
    """Also store each observation's raw screen."""
    unknown_action: Literal["error", "noop", "nearest"] = "error"
    """An action the game's action set lacks: stop with an error, play NOOP, or the nearest action."""


@dataclass(frozen=True)
class ImportMinariArgs:
    """Import a Minari dataset of ALE screens (e.g. made with minari's DataCollector) into imitax's format."""

    source: tyro.conf.Positional[str]
    """The Minari dataset's directory (or a local dataset id)."""
    out: str
    """The new dataset's directory."""
    game: str
    """The game the dataset plays."""
    env_preset: str = "nature"
    """Preprocessing preset the frames are made for."""
    unknown_action: Literal["error", "noop", "nearest"] = "error"
    """An action the game's action set lacks: stop with an error, play NOOP, or the nearest action."""


def _import(kind: str) -> Handler:
    def handler(argv: list[str], prog: str) -> int:
        from imitax.data import importers

        if kind == "agc":
            a = parse(ImportAgcArgs, argv, prog)
            report = importers.import_agc(
                Path(a.root),
                a.game,
                Path(a.out),
                a.env_preset,
                list(a.trajectories) or None,
                a.keep_rgb,
                progress=True,
                unknown_action=a.unknown_action,
            )
        elif kind == "atari-head":
            a = parse(ImportAtariHeadArgs, argv, prog)
            report = importers.import_atari_head(
                Path(a.source),
                Path(a.out),
                a.game,
                a.env_preset,
                a.keep_rgb,
                progress=True,
                frames_per_row=a.frames_per_row,
                unknown_action=a.unknown_action,
            )
        else:
            a = parse(ImportMinariArgs, argv, prog)
            report = importers.import_minari(
                a.source, Path(a.out), a.game, a.env_preset, progress=True, unknown_action=a.unknown_action
            )
        print(report.summary())
        return 0

    return handler


def _data_relabel(argv: list[str], prog: str) -> int:
    from imitax.data.relabel import RelabelConfig, relabel

    print(relabel(parse(RelabelConfig, argv, prog)).summary())
    return 0


def _run(argv: list[str], prog: str) -> int:
    from imitax.pipeline import MainJobConfig, run_main_job

    # Switches are plain flags here (`imitax run --quick`), as the one command a newcomer types.
    config = tyro.cli(MainJobConfig, args=argv, prog=prog)
    page = run_main_job(config, argv)
    return 0 if page is not None else 130


def _reproduce(argv: list[str], prog: str) -> int:
    from imitax.train.reproduce import ReproduceArgs, reproduce

    args = parse(ReproduceArgs, argv, prog)
    done = reproduce(args.run_dir, args.out)
    if done.result.interrupted:
        return 130
    if done.reproduced:
        print(
            f"Reproduced {args.run_dir} into {done.result.run_dir}: all {done.rows} metrics rows and "
            "evaluations equal, timing columns aside."
        )
        return 0
    print(f"Not reproduced: {done.result.run_dir} differs from {args.run_dir} at {done.mismatch}.")
    return 1


def _sweep(argv: list[str], prog: str) -> int:
    from imitax.sweep import SweepArgs, sweep_command

    return sweep_command(parse(SweepArgs, argv, prog))


def _report(argv: list[str], prog: str) -> int:
    from imitax.analysis.report import ReportArgs, report_command

    return report_command(parse(ReportArgs, argv, prog))


COMMANDS: dict[tuple[str, ...], Command] = {
    ("run",): Command("The main job: demos -> BC -> DAgger -> DQfD -> evaluation -> report.", _run),
    **{("train", name): Command(algo.summary, _train(name)) for name, algo in ALGORITHMS.items()},
    ("sweep",): Command("Sweep hyperparameters and seeds over games, here or on Ray.", _sweep),
    ("report",): Command("Aggregate runs' scores over games and seeds, with confidence intervals.", _report),
    ("reproduce",): Command("Train a run again from its record, into a new directory.", _reproduce),
    ("eval",): Command("Play games with a run's checkpoint; report true scores.", _eval),
    ("record", "human"): Command("Record a person playing in a window.", _record_human),
    ("record", "expert"): Command("Record a built-in expert (optionally with DART noise).", _record_expert),
    ("record", "agent"): Command("Record a trained agent's checkpoint playing.", _record_agent),
    ("data", "info"): Command("Summarise a demonstration dataset.", _data_info),
    ("data", "verify"): Command("Check a dataset's integrity, episode by episode.", _data_verify),
    ("data", "import", "agc"): Command("Import Atari Grand Challenge trajectories.", _import("agc")),
    ("data", "import", "atari-head"): Command("Import Atari-HEAD trials (with gaze).", _import("atari-head")),
    ("data", "import", "minari"): Command("Import a Minari dataset of ALE screens.", _import("minari")),
    ("data", "relabel"): Command("Label every step with a teacher (DAgger's oracle).", _data_relabel),
    ("experts",): Command("List the built-in experts.", _experts),
    ("games",): Command("List the games and tasks.", _games),
}


def _overview() -> str:
    lines = [
        f"imitax {imitax.__version__}: learning from demonstrations and deep Q-learning on Atari.",
        "",
        "usage: imitax <command> [options]   (imitax <command> --help for its options)",
        "",
        "commands:",
    ]
    for words, command in COMMANDS.items():
        lines.append(f"  {' '.join(words):<24}{command.summary}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # Whoever read the output has gone (`imitax games | head -1`): end quietly, as Unix tools do, with
        # stdout pointed at /dev/null so that Python's last flush finds nowhere to fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command its pipe closed


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_overview())
        return 0
    if argv[0] == "--version":
        print(imitax.__version__)
        return 0
    for length in (3, 2, 1):
        words = tuple(argv[:length])
        if words in COMMANDS:
            prog = "imitax " + " ".join(words)
            try:
                return COMMANDS[words].handler(argv[length:], prog)
            except ValueError as err:  # bad input: one clear message, no traceback
                print(f"{prog}: error: {err}", file=sys.stderr)
                return 2
    for length in (2, 1):  # a known group with an unknown (or missing) subcommand
        subs = [" ".join(w) for w in COMMANDS if len(w) > length and w[:length] == tuple(argv[:length])]
        if subs:
            asked = " ".join(argv[: length + 1])
            print(f"imitax: '{asked}' is not a command; try: {', '.join(subs)}", file=sys.stderr)
            return 2
    print(f"imitax: unknown command {argv[0]!r}.\n\n{_overview()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
