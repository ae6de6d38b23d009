"""Many seeds in one compiled program against separate runs: the same total work, timed end to end.

Trains K seeds of DQN (the fast preset) on Pong twice: as K separate `imitax train` runs, one after the
other (what one machine does with K runs), and as one `imitax train --num-seeds K` run. Each is timed
from the command's start to its end (start-up, compilation, acting, learning, evaluation, checkpoints).
Prints a table and, as its last line, one JSON object, also written to benchmarks/results/seeds.json
(--out to change):
  separate_s, together_s   wall time of the K separate runs (summed) and of the one K-seed run
  seeds_speedup            separate_s / together_s
  same_final_returns       whether each seed's final evaluation is the same both ways
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
from _results import publish  # benchmarks/ is on sys.path when a script runs

from imitax.train.run_dir import EVAL_FILE, read_rows

BASE = "train dqn --preset fast --env Pong --num-envs 8 --replay-capacity 8000 --learning-starts 1000"
BASE += " --eval-episodes 2 --log-every 1000 --eval-every 0 --checkpoint-every 100000"


def _timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "imitax.cli", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _final_returns(run: Path) -> str:
    return read_rows(run / EVAL_FILE)[-1]["returns"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="K")
    parser.add_argument("--total-steps", type=int, default=4000, help="environment steps per seed")
    parser.add_argument("--extra", default="", help="more flags for imitax train")
    parser.add_argument("--out", default="seeds.json", help="file name under benchmarks/results")
    args = parser.parse_args()
    flags = [*shlex.split(BASE), "--total-steps", str(args.total_steps), *shlex.split(args.extra)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs = [[*flags, "--seed", str(s), "--run-dir", str(work / f"alone{s}")] for s in range(args.seeds)]
        separate = sum(_timed(run) for run in runs)
        together = _timed([*flags, "--num-seeds", str(args.seeds), "--run-dir", str(work / "together")])
        same = all(
            _final_returns(work / f"alone{s}") == _final_returns(work / "together" / f"seed{s}")
            for s in range(args.seeds)
        )
    figures = {
        "device": str(jax.devices()[0].device_kind),
        "seeds": args.seeds,
        "total_steps_per_seed": args.total_steps,
        "separate_s": round(separate, 1),
        "together_s": round(together, 1),
        "seeds_speedup": round(separate / together, 3),
        "same_final_returns": same,
    }
    publish(figures, args.out)


if __name__ == "__main__":
    main()
