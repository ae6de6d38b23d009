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
import json
import shlex
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from imitax import cli
from imitax.agents.algorithms import ALGORITHMS
from imitax.train.loading import config_from_record
from imitax.train.run_dir import CONFIG_FILE, EVAL_FILE, read_rows

BUDGETS = ("tiny", "cpu", "full")
TINY_FLAGS = "--num-envs 2 --eval-episodes 1 --batch-size 8 --log-every 64 --offline-log-every 10"
"""What every tiny budget adds: few environments, small batches, one evaluation game."""


@dataclass(frozen=True)
class Setting:
    """One published setting: the algorithm, and the flags each budget adds to `imitax train`."""

    name: str
    algo: str
    budgets: dict[str, str]
    """Flags of `imitax train` per budget (tiny ones get `TINY_FLAGS` too)."""
    games: tuple[str, ...] = ("Pong",)
    demo_steps: dict[str, int] = field(default_factory=dict)
    """Expert steps recorded per budget when the setting learns from demonstrations (empty: it does not)."""

    def flags(self, budget: str) -> list[str]:
        extra = f" {TINY_FLAGS}" if budget == "tiny" else ""
        return shlex.split(self.budgets[budget] + extra)


def final_eval(run_dir: Path) -> dict | None:
    rows = read_rows(run_dir / EVAL_FILE)
    return rows[-1] if rows else None


def is_complete(run_dir: Path) -> bool:
    """Whether the run reached the end of its last phase and evaluated there."""
    from imitax.train.runner import final_step

    record_file = run_dir / CONFIG_FILE
    last = final_eval(run_dir)
    if not record_file.exists() or last is None:
        return False
    record = json.loads(record_file.read_text())
    config = config_from_record(ALGORITHMS[record["algo"]].config, record["config"])
    return int(last["step"]) >= final_step(config)


def _demos(setting: Setting, game: str, budget: str, out: Path) -> list[str]:
    """Flags naming the demonstrations: recorded by the built-in expert once, then reused."""
    from imitax.data.record import ExpertRecordConfig, record_expert

    path = out / f"demos-{game.lower()}-{budget}"
    if not (path / "data" / "metadata.json").exists():
        steps = setting.demo_steps[budget]
        record_expert(ExpertRecordConfig(env=game, out=str(path), episodes=1, min_steps=steps, quiet=True))
    return ["--demos", str(path)]


def run_setting(setting: Setting, argv: list[str] | None = None) -> int:
    """Parses the script's flags and runs every game and seed; returns the exit status."""
    parser = argparse.ArgumentParser(
        description=f"{setting.name}: `imitax train {setting.algo}` over games and seeds"
    )
    parser.add_argument("--games", nargs="+", default=list(setting.games))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--budget", choices=BUDGETS, default="cpu")
    parser.add_argument("--demos", nargs="*", default=None, help="datasets to learn from (default: record)")
    parser.add_argument("--out", default=f"runs/{setting.name}")
    parser.add_argument(
        "train_flags", nargs="*", help=f"more flags for imitax train {setting.algo} (after --)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = []
    for game in args.games:
        for seed in args.seeds:
            run_dir = out / f"{game.lower()}-seed{seed}"
            if not is_complete(run_dir):
                if (run_dir / CONFIG_FILE).exists():
                    flags = ["--resume", str(run_dir)]
                else:
                    flags = [*setting.flags(args.budget), "--env", game, "--seed", str(seed)]
                    flags += ["--run-dir", str(run_dir)]
                    if setting.demo_steps:
                        flags += (
                            ["--demos", *args.demos]
                            if args.demos
                            else _demos(setting, game, args.budget, out)
                        )
                code = cli.main(["train", setting.algo, *flags, *args.train_flags])
                if code != 0:
                    return code
            last = final_eval(run_dir)
            results.append(
                {
                    "game": game,
                    "seed": seed,
                    "step": last["step"],
                    "env_steps": last["env_steps"],
                    "updates": last["updates"],
                    "return_mean": float(last["return_mean"]),
                    "run_dir": str(run_dir),
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
