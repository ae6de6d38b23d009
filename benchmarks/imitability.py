"""How imitable is each built-in expert? A clone (BC, the default preset) trains on some of the expert's
games and is scored on whole games it never saw: the share of their steps where its greedy action is the
expert's label, overall, on the decisive steps (Pong: the steps before the player's paddle meets the
ball; Breakout: before the paddle meets a falling ball) and on the steps where the expert moves (not
NOOP), and the clone's own score in the game.

Each expert records `--games` games (the last `--held-out` of them held out) with `--noise` DART noise
(labels stay the expert's): a deterministic expert replays the same game from the same no-op start, and
without noise the held-out games may repeat training games step for step. The clone makes `--updates`
updates, so the figures do not depend on the machine's speed. Writes benchmarks/results/imitability.json
and prints it as the last line.

    python benchmarks/imitability.py                       # every built-in expert
    python benchmarks/imitability.py --experts pong-sight --updates 1000 --games 3 --held-out 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import imitax
from imitax.agents.algorithms import BC_DEFAULT
from imitax.data.dataset import load_dataset
from imitax.data.record import ExpertRecordConfig, record_expert
from imitax.data.relabel import stacked_frames
from imitax.experts import available_experts, decisive_steps

RESULTS = Path(__file__).parent / "results"


def record(expert: str, game: str, out: Path, games: int, max_steps: int, noise: float) -> None:
    if not out.exists():
        config = ExpertRecordConfig(
            env=game,
            expert=expert,
            out=str(out),
            episodes=games,
            noise=noise,
            max_episode_steps=max_steps,
            quiet=True,
        )
        record_expert(config)


def clone(
    game: str, demos: Path, run: Path, updates: int, held_out: int, eval_games: int, balance: bool
) -> imitax.Run:
    if run.exists():
        return imitax.load_run(run)
    config = dataclasses.replace(
        BC_DEFAULT,
        bc_balance=balance,
        env=game,
        demos=(str(demos),),
        val_episodes=held_out,
        pretrain_updates=updates,
        offline_log_every=max(1, updates // 4),
        offline_eval_every=0,
        eval_episodes=eval_games,
        run_dir=str(run),
    )
    return imitax.train(config, quiet=True).runs[0]


def held_out_agreement(run: Path, demos: Path, game: str, held_out: int) -> dict[str, float]:
    """The clone's greedy actions against the labels on the held-out games' steps."""
    loaded = imitax.load_agent(run)
    act = jax.jit(lambda obs: loaded.agent.act(loaded.state, obs, jax.random.key(0), 0.0))
    dataset = load_dataset(demos)
    noop = list(loaded.spec.action_meanings).index("NOOP")
    agree, decisive, moves = [], [], []
    for index in dataset.indices[-held_out:]:
        episode = dataset.episode(index)
        stacks = stacked_frames(episode.frames, np.arange(episode.num_steps), loaded.spec.frame_stack)
        actions = np.concatenate([np.asarray(act(jnp.asarray(part))) for part in np.array_split(stacks, 64)])
        agree.append(actions == episode.labels)
        decisive.append(decisive_steps(game, stacks))
        moves.append(episode.labels != noop)
    agree, decisive, moves = (np.concatenate(x) for x in (agree, decisive, moves))

    def share(mask: np.ndarray) -> float:
        return float(agree[mask].mean()) if mask.any() else float("nan")

    return {
        "held_out_steps": int(agree.size),
        "accuracy": float(agree.mean()),
        "decisive_share": float(decisive.mean()),
        "decisive_accuracy": share(decisive),
        "move_share": float(moves.mean()),
        "move_accuracy": share(moves),  # where the expert does something: NOOP alone cannot score
    }


def measure(expert: str, game: str, work: Path, args: argparse.Namespace) -> dict:
    demos = work / f"demos-{expert}-noise{args.noise}"
    run = work / f"clone-{expert}-noise{args.noise}{'-balanced' if args.bc_balance else ''}-{args.updates}"
    start = time.perf_counter()
    record(expert, game, demos, args.games, args.max_steps, args.noise)
    dataset = load_dataset(demos)
    train_episodes = dataset.indices[: -args.held_out]
    trained = clone(game, demos, run, args.updates, args.held_out, args.eval_games, args.bc_balance)
    figures = held_out_agreement(run, demos, game, args.held_out)
    scores = [dataset.episode(i).score for i in dataset.indices]
    return {
        "expert": expert,
        "game": game,
        "expert_scores": scores,
        "train_steps": int(sum(dataset.episode(i).num_steps for i in train_episodes)),
        **figures,
        "val_bc_accuracy": float(trained.metrics["val_bc_accuracy"][-1]),
        "train_bc_accuracy": float(trained.metrics["bc_accuracy"][-1]),
        "clone_return": float(trained.final.mean),
        "clone_returns": trained.final.returns.tolist(),
        "minutes": (time.perf_counter() - start) / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experts", nargs="*", default=list(available_experts()))
    parser.add_argument("--games", type=int, default=6, help="games recorded per expert")
    parser.add_argument("--held-out", type=int, default=2, help="of them, held out from the clone")
    parser.add_argument("--max-steps", type=int, default=4_000, help="steps per recorded game at most")
    parser.add_argument("--updates", type=int, default=6_000, help="the clone's updates")
    parser.add_argument("--noise", type=float, default=0.03, help="DART noise of the recorded games")
    parser.add_argument("--eval-games", type=int, default=8, help="games the clone plays at the end")
    parser.add_argument("--bc-balance", action="store_true", help="class-balanced cloning (bc_balance)")
    parser.add_argument("--work", type=Path, default=Path("runs/imitability"))
    parser.add_argument("--out", type=Path, default=RESULTS / "imitability.json")
    args = parser.parse_args()
    experts = available_experts()
    rows = [measure(name, experts[name][0], args.work, args) for name in args.experts]
    for row in rows:
        print(
            f"{row['expert']:<16} accuracy {row['accuracy']:.3f}  decisive {row['decisive_accuracy']:.3f} "
            f"({row['decisive_share']:.1%} of steps)  moves {row['move_accuracy']:.3f} "
            f"({row['move_share']:.1%})  clone {row['clone_return']:+.1f}  "
            f"expert {np.mean(row['expert_scores']):+.1f}"
        )
    result = {"settings": {k: str(v) for k, v in vars(args).items()}, "experts": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
