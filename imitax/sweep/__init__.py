"""`imitax sweep SPEC`: hyperparameters and seeds swept over games, on this machine or on a Ray cluster.

Each trial is one `imitax train <algo>` run directory under the sweep's output directory, named after
its game, swept fields and seed (`pong-learning_rate=0.0001-seed0`), so a rerun skips the trials that
are done, resumes those that were stopped and starts the others, wherever the earlier run happened.
The SPEC's format is in `imitax.sweep.spec`; the results are `results.csv` and `results.png`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tyro

from imitax.envs import resolve_env_name
from imitax.flags import to_flags
from imitax.sweep import results
from imitax.sweep.spec import SweepSpec, load_spec, spec_from_dict
from imitax.trials import INTERRUPTED, Trial, default_workers, make_trial, parse_flags, run_local, trial_state

__all__ = [
    "SweepArgs",
    "SweepSpec",
    "build_trials",
    "load_spec",
    "spec_from_dict",
    "sweep_command",
    "to_flags",
    "trial_name",
]

MAX_NAME = 120
"""Longer trial names end in a hash of the whole name instead (file systems allow 255 bytes)."""


@dataclass(frozen=True)
class SweepArgs:
    """Sweep hyperparameters and seeds over games: one `imitax train` run per trial, done ones skipped and
    stopped ones resumed on a rerun; a table (results.csv) and a plot (results.png) of the final returns."""

    spec: tyro.conf.Positional[str]
    """The SPEC: a .yaml or .py file naming algo, preset, base fields, grid and/or random search, seeds
    and games (see experiments/sweeps/)."""
    out: str | None = None
    """Output directory of the sweep: the trials' run directories, logs/, results.csv, results.png
    (default: runs/sweeps/<the SPEC's name>)."""
    ray: str | None = None
    """Run the trials with Ray Tune on this cluster: HOST:PORT, ray://HOST:PORT, auto, or local (a Ray
    started on this machine); default: child processes on this machine."""
    workers: int | None = None
    """Trials at once (default here: one per two cores, at most one per 4 GiB of available memory; on
    Ray: as many as the SPEC's resources per trial allow)."""
    dry_run: bool = False
    """List the trials, their state (done, stopped, new) and commands, and run nothing."""

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")


def sweep_command(args: SweepArgs) -> int:
    """Runs the sweep; returns the exit status (0: every trial done, 130: stopped, 1: a trial failed).
    A bad SPEC or an unreachable Ray cluster is a ValueError, before anything is written."""
    spec = load_spec(args.spec)
    # Absolute: a Ray worker runs in a directory of its own.
    out = Path(args.out or f"runs/sweeps/{spec.name}").absolute()
    trials = build_trials(spec, out)
    states = Counter(trial_state(t) for t in trials)
    where = f"Ray ({args.ray})" if args.ray else "this machine"
    print(
        f"sweep {spec.name}: {len(trials)} trials ({states['done']} done, {states['stopped']} stopped, "
        f"{states['new']} new) in {out}, on {where}"
    )
    if args.dry_run:
        for trial in trials:
            state = trial_state(trial)
            print(f"  {state:<8}imitax {' '.join(trial.argv(resume=state == 'stopped'))}")
        return 0
    if args.ray:
        from imitax.sweep import on_ray

        on_ray.connect(args.ray)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps(spec_record(spec), indent=2, default=str) + "\n")
    log_dir = out / "logs"
    if args.ray:
        codes = on_ray.run_on_ray(trials, out, log_dir, spec.resources, args.workers, cwd=str(Path.cwd()))
        if args.ray == "local":
            import ray

            ray.shutdown()
    else:
        codes = run_local(trials, args.workers or default_workers(), log_dir)
    return _report(trials, spec, out, log_dir, codes)


def _report(trials: list[Trial], spec: SweepSpec, out: Path, log_dir: Path, codes: dict[str, int]) -> int:
    rows = results.result_rows(trials, spec.swept, log_dir)
    results.write_table(rows, out / results.TABLE)
    plotted = results.plot(rows, spec.swept, out / results.PLOT)
    results.print_summary(rows, spec.swept)
    print(f"Per trial: {out / results.TABLE}" + (f"; plot: {out / results.PLOT}" if plotted else ""))
    failed = sorted(name for name, code in codes.items() if code not in (0, INTERRUPTED))
    if failed:
        print(f"{len(failed)} trials failed (their logs are in {log_dir}): {', '.join(failed)}")
        return 1
    if any(code == INTERRUPTED for code in codes.values()):
        print("Stopped; run the same command again to resume.")
        return INTERRUPTED
    return 0


def build_trials(spec: SweepSpec, out: Path) -> list[Trial]:
    """Every trial of the sweep, game by game, point by point, seed by seed; each one's flags parsed as
    `imitax train` parses them and checked against any run already in its directory."""
    base = ["--preset", spec.preset, *to_flags(spec.base)]
    trials = []
    configs: dict[str, Any] = {}
    for game in spec.games:
        for point in spec.points():
            for seed in spec.seeds:
                flags = [*base, *to_flags(point), "--env", game, "--seed", str(seed)]
                try:
                    config = parse_flags(spec.algo, flags)
                except ValueError as err:
                    raise ValueError(f"{game}, seed {seed}, {point or 'no swept fields'}: {err}") from None
                params = {name: getattr(config, name) for name in spec.swept}
                name = trial_name(config.env, params, seed)
                if name in configs:
                    if configs[name] != config:
                        raise ValueError(
                            f"two trials with other settings would share the run directory {name}"
                        )
                    continue  # the same settings twice (a random search drew them again): one trial
                configs[name] = config
                params.update(game=game, seed=seed)
                trials.append(make_trial(name, spec.algo, flags, out / name, params, config=config))
    return trials


def trial_name(env: str, params: dict[str, Any], seed: int) -> str:
    """`<game>-<field>=<value>,...-seed<seed>`, fields sorted; characters a path should not hold become _."""
    settings = ",".join(f"{k}={_name_value(v)}" for k, v in sorted(params.items()))
    name = "-".join(p for p in (_safe(resolve_env_name(env).lower()), settings, f"seed{seed}") if p)
    if len(name) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[: MAX_NAME - 11]}-{digest}"
    return name


def spec_record(spec: SweepSpec) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(spec)


def _name_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(_name_value(v) for v in value)
    return _safe(repr(value) if isinstance(value, float) else str(value))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", text)
