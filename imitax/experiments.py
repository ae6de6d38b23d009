"""A published setting run over games and seeds: one run directory each, resumed when it was stopped,
reused when it is complete, and a table of the final evaluations. The scripts in `experiments/` are
each one `Setting` and a call to `run_setting`.

Budgets: `full` is the paper's own budget, `cpu` one that a 2-core CPU finishes in about an hour or two a
run, `tiny` a smoke test of a minute. Settings that learn from demonstrations record them with the game's
built-in expert unless `--demos` names datasets.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.flags import to_flags
from imitax.trials import final_eval, make_trial, run_local, trial_state

BUDGETS = ("tiny", "cpu", "full")
TINY = {"num_envs": 2, "eval_episodes": 1, "batch_size": 8, "log_every": 64, "offline_log_every": 10}
"""What every tiny budget adds: few environments, small batches, one evaluation game."""


@dataclass(frozen=True)
class Budget:
    """A budget of a setting: the algorithm's preset, and the config fields it changes."""

    preset: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Setting:
    """One published setting: the algorithm, and the preset and fields of each budget."""

    name: str
    algo: str
    budgets: dict[str, Budget]
    """Per budget (tiny ones get `TINY` too); fields are the algorithm's config fields."""
    games: tuple[str, ...] = ("Pong",)
    demo_steps: dict[str, int] = field(default_factory=dict)
    """Expert steps recorded per budget when the setting learns from demonstrations (empty: it does not)."""

    def flags(self, budget: str) -> list[str]:
        """The budget as `imitax train` flags, as sweeps write their fields."""
        chosen = self.budgets[budget]
        fields = {**chosen.fields, **(TINY if budget == "tiny" else {})}
        return ["--preset", chosen.preset, *to_flags(fields)]


def _demo_flags(setting: Setting, game: str, budget: str, demos: list[str] | None, out: Path) -> list[str]:
    """Flags naming the demonstrations: those given, or the built-in expert's recorded under `out`."""
    if not setting.demo_steps:
        return []
    return ["--demos", *(demos or [str(out / f"demos-{game.lower()}-{budget}")])]


def _record_demos(setting: Setting, game: str, budget: str, out: Path) -> None:
    """Records the built-in expert's demonstrations once; later runs reuse them."""

    path = out / f"demos-{game.lower()}-{budget}"
    if not (path / "data" / "metadata.json").exists():
        steps = setting.demo_steps[budget]
        record_expert(ExpertRecordConfig(env=game, out=str(path), episodes=1, min_steps=steps, quiet=True))


def run_setting(setting: Setting, argv: list[str] | None = None) -> int:
    """Parses the script's flags and runs every game and seed (one trial each, `imitax.trials`: done runs
    reused, stopped ones resumed); returns the exit status."""
    parser = argparse.ArgumentParser(
        description=f"{setting.name}: `imitax train {setting.algo}` over games and seeds"
    )
    parser.add_argument("--games", nargs="+", default=list(setting.games))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--budget", choices=BUDGETS, default="cpu")
    parser.add_argument("--demos", nargs="*", default=None, help="datasets to learn from (default: record)")
    parser.add_argument("--out", default=f"runs/{setting.name}")
    parser.add_argument("--workers", type=int, default=1, help="runs at once (above 1: each logs to a file)")
    parser.add_argument(
        "train_flags", nargs="*", help=f"more flags for imitax train {setting.algo} (after --)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    trials = []
    try:
        for game in args.games:
            for seed in args.seeds:
                flags = [*setting.flags(args.budget), "--env", game, "--seed", str(seed)]
                flags += [*_demo_flags(setting, game, args.budget, args.demos, out), *args.train_flags]
                name = f"{game.lower()}-seed{seed}"
                trials.append(make_trial(name, setting.algo, flags, out / name, {"game": game, "seed": seed}))
    except ValueError as err:
        print(f"{setting.name}: error: {err}", file=sys.stderr)
        return 2
    if setting.demo_steps and not args.demos:
        for game in dict.fromkeys(t.params["game"] for t in trials if trial_state(t) != "done"):
            _record_demos(setting, game, args.budget, out)
    logs = out / "logs" if args.workers > 1 else None
    codes = run_local(trials, args.workers, logs)
    failed = [code for code in codes.values() if code != 0]
    if failed:
        return failed[0]
    results = []
    for trial in trials:
        last = final_eval(trial.run_dir)
        results.append(
            {
                "game": trial.params["game"],
                "seed": trial.params["seed"],
                "step": last["step"],
                "env_steps": last["env_steps"],
                "updates": last["updates"],
                "return_mean": float(last["return_mean"]),
                "run_dir": str(trial.run_dir),
            }
        )
    _write_table(results, args.games, out)
    return 0


def _write_table(results: list[dict], games: list[str], out: Path) -> None:
    table = out / "results.csv"
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    print(f"\n{'game':<16}{'seeds':>6}{'mean':>10}{'min':>10}{'max':>10}")
    for game in games:
        returns = [r["return_mean"] for r in results if r["game"] == game]
        print(
            f"{game:<16}{len(returns):>6}{statistics.mean(returns):>10.2f}{min(returns):>10.2f}"
            f"{max(returns):>10.2f}"
        )
    print(f"\nPer run: {table}")
