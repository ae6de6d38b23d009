"""Does DQN learn Pong, and hold it? The `fast` preset for at most --minutes (default 90).

Training runs as `imitax train dqn --preset fast --env Pong` in a child process (with --num-seeds K,
K seeds in one program), which is stopped with Ctrl-C (SIGINT: it saves a checkpoint) when the time is
up, unless it finishes first. Then each seed's final checkpoint plays 30 evaluation games (epsilon 0.05),
and the learning curves (training returns and the periodic evaluations against environment steps) go to
learning_curve.png in the run directory. Goals: a final mean of -10 or better (random play scores about
-20.7), and no periodic evaluation after the first at or above -10 falling below -15 (it holds).

Prints a table and, as its last line, one JSON object, also written to benchmarks/results/learn_pong.json
(--out to change).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _results import publish  # benchmarks/ is on sys.path when a script runs

from imitax.train.run_dir import EVAL_FILE, METRICS_FILE, read_rows

RANDOM_PONG = -20.7
GOAL = -10.0
HOLD = -15.0
FINAL_GAMES = 30


def train(run_dir: Path, minutes: float, seed: int, num_seeds: int, extra: list[str]) -> float:
    command = [
        sys.executable,
        "-m",
        "imitax.cli",
        "train",
        "dqn",
        "--preset",
        "fast",
        "--env",
        "Pong",
        "--seed",
        str(seed),
        "--num-seeds",
        str(num_seeds),
        "--run-dir",
        str(run_dir),
        *extra,
    ]
    print(" ".join(command), flush=True)
    start = time.perf_counter()
    child = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        child.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGINT)
        child.wait(timeout=600)
    return (time.perf_counter() - start) / 60


def plot(runs: dict[int, Path], out: Path, finals: dict[int, dict], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (seed, run_dir) in enumerate(runs.items()):
        rows = [r for r in read_rows(run_dir / METRICS_FILE) if r["episode_return"]]
        evals = read_rows(run_dir / EVAL_FILE)
        ax.plot(
            [int(r["env_steps"]) for r in rows],
            [float(r["episode_return"]) for r in rows],
            color=f"C{i}",
            alpha=0.35,
            lw=1,
            label=f"seed {seed}: training games",
        )
        ax.errorbar(
            [int(e["env_steps"]) for e in evals],
            [float(e["return_mean"]) for e in evals],
            yerr=[float(e["return_std"]) for e in evals],
            fmt="o-",
            color=f"C{i}",
            capsize=3,
            label=f"seed {seed}: evaluations",
        )
        final = finals[seed]
        ax.errorbar(
            [final["env_steps"]],
            [final["return_mean"]],
            yerr=[final["return_std"]],
            fmt="s",
            color=f"C{i}",
            capsize=4,
            markeredgecolor="k",
            label=f"seed {seed}: final, {FINAL_GAMES} games",
        )
    ax.axhline(RANDOM_PONG, color="k", ls=":", lw=1, label="random play")
    ax.axhline(GOAL, color="C2", ls="--", lw=1, label="goal")
    ax.set(xlabel="environment steps", ylabel="Pong score", ylim=(-22, 22), title=title)
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    return out


def held(evals: list[dict]) -> bool:
    """No evaluation after the first at or above GOAL falls below HOLD."""
    means = [float(e["return_mean"]) for e in evals]
    first = next((i for i, m in enumerate(means) if m >= GOAL), None)
    return first is not None and all(m >= HOLD for m in means[first:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=90.0)
    parser.add_argument("--run-dir", default="runs/learn_pong")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-seeds", type=int, default=1, help="seeds seed..seed+K-1, in one program")
    parser.add_argument("--fresh", action="store_true", help="delete an earlier run in --run-dir first")
    parser.add_argument("--out", default="learn_pong.json", help="file name under benchmarks/results")
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="no training: evaluate the run already in --run-dir (trained for --minutes) and report it",
    )
    parser.add_argument("extra", nargs="*", help="more flags for imitax train dqn (after --)")
    args = parser.parse_args()
    if args.fresh and args.evaluate_only:
        parser.error("--fresh deletes the run that --evaluate-only evaluates: give one of them")
    run_dir = Path(args.run_dir)
    if args.fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    if args.evaluate_only:
        minutes = args.minutes
    else:
        minutes = train(run_dir, args.minutes, args.seed, args.num_seeds, args.extra)

    import jax

    from imitax.train.evaluation import evaluate_run

    seeds = range(args.seed, args.seed + args.num_seeds)
    runs = {s: run_dir / f"seed{s}" if args.num_seeds > 1 else run_dir for s in seeds}
    per_seed, finals = {}, {}
    for seed, path in runs.items():
        result, step = evaluate_run(str(path), episodes=FINAL_GAMES, epsilon=0.05, seed=10_000 + seed)
        finals[seed] = {"env_steps": step, **result.summary()}
        evals = read_rows(path / EVAL_FILE)
        rows = [r for r in read_rows(path / METRICS_FILE) if r["episode_return"]]
        per_seed[seed] = {
            "env_steps": step,
            "final_return": round(result.mean, 2),
            "final_return_std": round(result.std, 2),
            "final_returns": result.returns.tolist(),
            "periodic_evals": [[int(e["env_steps"]), float(e["return_mean"])] for e in evals],
            "held": held(evals),
            "last_training_return": float(rows[-1]["episode_return"]) if rows else None,
        }
    device = str(jax.devices()[0].device_kind)
    curve = plot(
        runs, run_dir / "learning_curve.png", finals, f"DQN fast preset on Pong, {minutes:.0f} min, {device}"
    )
    means = [v["final_return"] for v in per_seed.values()]
    all_games = [r for v in per_seed.values() for r in v["final_returns"]]
    figures = {
        "device": device,
        "minutes": round(minutes, 1),
        "seeds": list(seeds),
        "final_return": round(sum(means) / len(means), 2),
        "final_return_std": round(float(np.std(all_games)), 2),
        "reached_goal": all(m >= GOAL for m in means),
        "held": all(v["held"] for v in per_seed.values()),
        "random_return": RANDOM_PONG,
        "goal": GOAL,
        "per_seed": per_seed,
        "learning_curve": str(curve),
    }
    for seed, v in per_seed.items():
        print(
            f"seed {seed}: {v['env_steps']:,} steps, final {v['final_return']} ± {v['final_return_std']}, "
            f"held {v['held']}, evaluations {v['periodic_evals']}"
        )
    publish(figures, args.out)


if __name__ == "__main__":
    main()
