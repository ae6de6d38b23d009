"""Command-line flags as configs, below the CLI: `imitax train` parses with these, and so do the trial
runner and sweeps, which turn a trial's flags into the config it will run without starting a process."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import tyro

from imitax.agents.algorithms import Algorithm
from imitax.train.loading import config_from_record
from imitax.train.run_dir import load_run_record, seed_dirs


def parse(cls: type, args: list[str], prog: str, default: Any = None, description: str | None = None) -> Any:
    """`cls` from `args` by tyro, every field a flag (booleans take a value: --flag True)."""
    return tyro.cli(
        cls,
        args=args,
        prog=prog,
        default=default,
        description=description,
        config=(tyro.conf.FlagConversionOff,),
    )


def _train_args(config_cls: type, presets: dict[str, Any], default_preset: str) -> type:
    """The flags of `imitax train <algo>`: every config field, plus --preset and --resume."""
    return dataclasses.make_dataclass(
        "TrainArgs",
        [
            ("config", Annotated[config_cls, tyro.conf.arg(name="")]),
            (
                "preset",
                Annotated[
                    Literal[tuple(presets)],
                    tyro.conf.arg(  # type: ignore[valid-type]
                        help=f"Named hyperparameters to start from: {', '.join(presets)}."
                    ),
                ],
                default_preset,
            ),
            (
                "resume",
                Annotated[
                    str | None,
                    tyro.conf.arg(
                        help="Continue the stopped run in this directory, from its last checkpoint, with its "
                        "settings (the replay is restored, or refilled if the run did not save it)."
                    ),
                ],
                None,
            ),
            (
                "allow_divergence",
                Annotated[
                    bool,
                    tyro.conf.arg(
                        help="Keep training when the loss or Q-values become NaN or infinite (by default "
                        "the run stops there, naming the step, the term and the last good checkpoint)."
                    ),
                ],
                False,
            ),
        ],
        frozen=True,
    )


def parse_train(argv: list[str], prog: str, algo: Algorithm) -> TrainFlags:
    """Parses train flags; defaults come from --preset, or from the run being resumed."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--preset", default=algo.default_preset, choices=sorted(algo.presets))
    early.add_argument("--resume", default=None)
    early.add_argument("--run-dir", default=None)
    known, _ = early.parse_known_args(argv)
    resumed = known.resume and saved_config(algo, Path(known.resume))
    default = resumed or algo.presets[known.preset]
    cls = _train_args(algo.config, algo.presets, algo.default_preset)
    description = f"{algo.summary} {' '.join(algo.config.__doc__.split())}"
    start = cls(default, known.preset, known.resume, False)
    args = parse(cls, argv, prog, default=start, description=description)
    config = args.config
    if args.resume:
        # The run is the directory given, however its path is spelled or wherever it was moved.
        if known.run_dir and Path(known.run_dir).resolve() != Path(args.resume).resolve():
            raise ValueError(
                f"--resume {args.resume} continues that directory; drop --run-dir {known.run_dir}."
            )
        config = dataclasses.replace(config, run_dir=args.resume)
    return TrainFlags(config, bool(args.resume), args.allow_divergence)


class TrainFlags(NamedTuple):
    """What `imitax train <algo> FLAGS` asks for."""

    config: Any
    resume: bool
    allow_divergence: bool


def saved_config(algo: Algorithm, path: Path) -> Any:
    """The settings of the run in `path`; for a run of several seeds (one directory per seed under
    `path`), its first seed's with `num_seeds` counted."""
    seeds = seed_dirs(path)
    configs = []
    for run in seeds or [path]:
        record = load_run_record(run)
        if record["algo"] != algo.name:
            raise ValueError(
                f"--resume {path}: that run was made by {record['algo']!r}, not {algo.name!r}; continue it "
                f"with `imitax train {record['algo']} --resume {path}`."
            )
        configs.append(config_from_record(algo.config, record["config"], run, record.get("terms")))
    if not seeds:
        return configs[0]
    first = min(configs, key=lambda c: c.seed)
    return dataclasses.replace(first, num_seeds=len(configs), run_dir=str(path))


def to_flags(fields: dict[str, Any]) -> list[str]:
    """Config fields as `imitax train` flags: `--learning-rate 0.0001`, `--demos a b`, `--x None`."""
    flags: list[str] = []
    for name, value in fields.items():
        flag = "--" + name.replace("_", "-")
        values = value if isinstance(value, (list, tuple)) else [value]
        flags += [flag, *(_flag_value(v) for v in values)]
    return flags


def _flag_value(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)
