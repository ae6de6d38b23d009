"""DQN on several games and seeds, one run directory each, and a table of the final evaluations.

The published setting is the preset: `nature` is Mnih et al. 2015 (50M steps a game), `fast` the small-
budget recipe. Every flag after `--` goes to `imitax train dqn` for every run. A run directory that is
already complete is reused, one that was stopped is resumed, so an interrupted sweep picks up where it
left off.

    python experiments/dqn_atari.py --games Pong Breakout --seeds 0 1 2 --preset nature
    python experiments/dqn_atari.py --games Pong --seeds 0 --preset fast -- --total-steps 200000
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

from imitax import cli
from imitax.train.run_dir import CONFIG_FILE, EVAL_FILE, read_rows


def final_eval(run_dir: Path) -> dict | None:
    rows = read_rows(run_dir / EVAL_FILE)
    return rows[-1] if rows else None


def is_complete(run_dir: Path) -> bool:
    record = run_dir / CONFIG_FILE
    last = final_eval(run_dir)
    if not record.exists() or last is None:
        return False
    return int(last["env_steps"]) >= json.loads(record.read_text())["config"]["total_steps"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--games", nargs="+", default=["Pong"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--preset", default="nature")
    parser.add_argument("--out", default="runs/dqn_atari")
    parser.add_argument("train_flags", nargs="*", help="flags for imitax train dqn (after --)")
    args = parser.parse_args(argv)
    results = []
    for game in args.games:
        for seed in args.seeds:
            run_dir = Path(args.out) / f"{game.lower()}-seed{seed}"
            if not is_complete(run_dir):
                resume = (run_dir / CONFIG_FILE).exists()
                flags = (
                    ["--resume", str(run_dir)]
                    if resume
                    else [
                        "--preset",
                        args.preset,
                        "--env",
                        game,
                        "--seed",
                        str(seed),
                        "--run-dir",
                        str(run_dir),
                    ]
                )
                code = cli.main(["train", "dqn", *flags, *args.train_flags])
                if code != 0:
                    return code
            last = final_eval(run_dir)
            results.append(
                {
                    "game": game,
                    "seed": seed,
                    "env_steps": last["env_steps"],
                    "return_mean": float(last["return_mean"]),
                    "run_dir": str(run_dir),
                }
            )
    out = Path(args.out) / "results.csv"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    print(f"\n{'game':<16}{'seeds':>6}{'mean':>10}{'min':>10}{'max':>10}")
    for game in args.games:
        returns = [r["return_mean"] for r in results if r["game"] == game]
        print(
            f"{game:<16}{len(returns):>6}{statistics.mean(returns):>10.2f}{min(returns):>10.2f}"
            f"{max(returns):>10.2f}"
        )
    print(f"\nPer run: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
