"""Does DQN learn Pong on a 2-core CPU? The `fast` preset for at most --minutes (default 90).

Training runs as `imitax train dqn --preset fast --env Pong` in a child process, which is stopped with
Ctrl-C (SIGINT: it saves a checkpoint) when the time is up, unless it finishes first. Then the final
checkpoint plays 10 evaluation games (epsilon 0.05), and the learning curve (training returns and the
periodic evaluations against environment steps and minutes) goes to learning_curve.png in the run
directory. Goal: a mean evaluation return of -10 or better (random play scores about -20.7).

Prints a table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from imitax.train.run_dir import EVAL_FILE, METRICS_FILE, read_rows

RANDOM_PONG = -20.7
GOAL = -10.0


def train(run_dir: Path, minutes: float, seed: int, extra: list[str]) -> float:
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


def plot(run_dir: Path, minutes: float, final: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_rows(run_dir / METRICS_FILE)
    evals = read_rows(run_dir / EVAL_FILE)
    steps = [int(r["env_steps"]) for r in rows if r["episode_return"]]
    returns = [float(r["episode_return"]) for r in rows if r["episode_return"]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps, returns, color="0.6", lw=1, label="training games (unclipped, per log interval)")
    if evals:
        ax.errorbar(
            [int(e["env_steps"]) for e in evals],
            [float(e["return_mean"]) for e in evals],
            yerr=[float(e["return_std"]) for e in evals],
            fmt="o-",
            color="C0",
            capsize=3,
            label="evaluation (10 games, epsilon 0.05)",
        )
    ax.errorbar(
        [final["env_steps"]],
        [final["return_mean"]],
        yerr=[final["return_std"]],
        fmt="s",
        color="C3",
        capsize=3,
        label="final checkpoint",
    )
    ax.axhline(RANDOM_PONG, color="k", ls=":", lw=1, label="random play")
    ax.axhline(GOAL, color="C2", ls="--", lw=1, label="goal")
    ax.set(
        xlabel="environment steps",
        ylabel="Pong score",
        ylim=(-22, 22),
        title=f"DQN fast preset on Pong, {minutes:.0f} minutes on a 2-core CPU",
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = run_dir / "learning_curve.png"
    fig.savefig(out, dpi=120)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=90.0)
    parser.add_argument("--run-dir", default="runs/learn_pong")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="delete an earlier run in --run-dir first")
    parser.add_argument("extra", nargs="*", help="more flags for imitax train dqn (after --)")
    args = parser.parse_args()
    run_dir = Path(args.run_dir)
    if args.fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    minutes = train(run_dir, args.minutes, args.seed, args.extra)

    from imitax.train.evaluation import evaluate_run

    result, step = evaluate_run(str(run_dir), episodes=10, epsilon=0.05)
    final = {"env_steps": step, **result.summary()}
    curve = plot(run_dir, minutes, final)
    rows = read_rows(run_dir / METRICS_FILE)
    evals = read_rows(run_dir / EVAL_FILE)
    figures = {
        "minutes": round(minutes, 1),
        "env_steps": step,
        "steps_per_s": round(step / (minutes * 60), 1),
        "final_eval_return_mean": round(result.mean, 2),
        "final_eval_return_std": round(result.std, 2),
        "final_eval_returns": result.returns.tolist(),
        "best_periodic_eval_mean": max((float(e["return_mean"]) for e in evals), default=None),
        "last_training_return": next(
            (float(r["episode_return"]) for r in reversed(rows) if r["episode_return"]), None
        ),
        "random_return": RANDOM_PONG,
        "goal": GOAL,
        "reached_goal": result.mean >= GOAL,
        "learning_curve": str(curve),
    }
    for name, value in figures.items():
        print(f"{name:>26}  {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
