"""The same small sweep on this machine and on a local Ray: DQN on CartPole, learning rates on a grid
and two seeds (experiments/sweeps/cartpole_tiny.yaml; 4 trials of about 10 s each on a CPU), each from
an empty output directory.

Prints, as its last line, one JSON object, also written to benchmarks/results/sweep.json:
  trials                 trials in the sweep
  workers                trials at once, both ways
  local_wall_s           `imitax sweep SPEC --workers W`, from start to results
  ray_local_wall_s       `imitax sweep SPEC --ray local --workers W` (Ray's start-up included)
  ray_overhead_s         the difference
  same_returns           whether both ways gave each trial the same final return (same seed, same run)
  cpus                   cores of this machine

    python benchmarks/sweep.py --workers 2
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

import yaml
from _results import publish  # benchmarks/ is on sys.path when a script runs

from imitax.sweep import SweepArgs, sweep_command

ROOT = Path(__file__).resolve().parents[1]


def timed_sweep(spec: Path, out: Path, workers: int, ray: str | None) -> tuple[float, dict[str, str]]:
    start = time.perf_counter()
    code = sweep_command(SweepArgs(str(spec), out=str(out), ray=ray, workers=workers))
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"the sweep failed (exit status {code}); see {out / 'logs'}")
    with (out / "results.csv").open() as f:
        returns = {Path(r["run_dir"]).name: r["return_mean"] for r in csv.DictReader(f)}
    return seconds, returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="trials at once, both ways")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "cartpole_tiny.yaml"
        data = yaml.safe_load((ROOT / "experiments" / "sweeps" / "cartpole_tiny.yaml").read_text())
        spec.write_text(yaml.safe_dump({**data, "seeds": args.seeds}))
        local_s, local = timed_sweep(spec, Path(tmp) / "local", args.workers, None)
        ray_s, on_ray = timed_sweep(spec, Path(tmp) / "ray", args.workers, "local")
    report = {
        "trials": len(local),
        "workers": args.workers,
        "local_wall_s": round(local_s, 1),
        "ray_local_wall_s": round(ray_s, 1),
        "ray_overhead_s": round(ray_s - local_s, 1),
        "same_returns": local == on_ray,
        "cpus": os.cpu_count(),
    }
    publish(report, "sweep.json")


if __name__ == "__main__":
    main()
