"""How each trained policy's score falls with the exploration rate it is evaluated at: every run directory
given plays the same games (evaluation seed 777, as `learn_from_demos.py` evaluates) at each epsilon.

On Pong a random press moves the paddle about 22 units, so policies that learnt near-deterministic play
can score +21 greedily and near -18 at the Nature protocol's 0.05: this measures that.

    python benchmarks/epsilon_sensitivity.py NAME=RUN_DIR [NAME=RUN_DIR ...] [--epsilons 0 0.01 0.05]

Prints a table, then as its last line one JSON object (also benchmarks/results/epsilon_sensitivity.json):
  <name>_epsilon<e>   mean true score over --games games at epsilon e
  runs                {name: {"run_dir", "checkpoint", "epsilon<e>": {"mean", "std", "returns"}}}
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _results import publish  # benchmarks/ is on sys.path when a script runs
from learn_from_demos import EVAL_SEED, evaluate  # the same games as its final figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR of each policy")
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.0, 0.01, 0.05])
    parser.add_argument("--games", type=int, default=10)
    args = parser.parse_args()
    figures: dict = {"games": args.games, "seed": EVAL_SEED}
    runs: dict = {}
    for named in args.runs:
        name, sep, run_dir = named.partition("=")
        if not sep or not name or not run_dir:
            parser.error(f"{named!r}: give each run as NAME=RUN_DIR")
        runs[name] = {"run_dir": run_dir}
        for epsilon in args.epsilons:
            played = evaluate(Path(run_dir), args.games, epsilon)
            runs[name]["checkpoint"] = played.pop("checkpoint")
            runs[name][f"epsilon{epsilon:g}"] = played
            figures[f"{name}_epsilon{epsilon:g}"] = round(played["mean"], 2)
            print(f"{name} at epsilon {epsilon:g}: {played['mean']:+.2f} ± {played['std']:.2f}", flush=True)
    publish({**figures, "runs": runs}, "epsilon_sensitivity.json")


if __name__ == "__main__":
    main()
