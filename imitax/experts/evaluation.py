"""Playing full games with an expert: its true score, its speed, and its play under injected noise."""

from __future__ import annotations

import functools
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal

import numpy as np

from imitax.envs import AtariEnv
from imitax.envs.noise import noisy_action
from imitax.experts.base import Expert
from imitax.experts.registry import make_expert

Ending = Literal["game_over", "time_limit", "budget"]


def play_episode(
    expert: Expert, env: AtariEnv, seed: int, noise: float, max_steps: int, rng: np.random.Generator
) -> tuple[float, int, Ending]:
    """One game from `env.reset(seed=seed)`; returns (true score, steps, how it ended).

    With probability `noise` the executed action is uniformly random; the expert still decides every
    step, as it does when recording noisy demonstrations labelled with its intended actions.
    """
    env.reset(seed=seed)
    score, steps = 0.0, 0
    while steps < max_steps:
        action = noisy_action(expert.act(env), env.action_space.n, noise, "uniform", rng)
        _, reward, terminated, truncated, _ = env.step(action)
        score += reward
        steps += 1
        if terminated or truncated:
            return score, steps, "time_limit" if truncated else "game_over"
    return score, steps, "budget"


def play_game(
    expert: Expert | str, game: str, preset: str, seed: int, noise: float, max_steps: int | None
) -> tuple[float, int, Ending]:
    """One whole game on a new `AtariEnv(training=False)` reset with `seed`, its noise drawn from a
    generator of the same seed: a game's outcome depends on its seed alone, whichever process plays it."""
    if isinstance(expert, str):
        expert = make_expert(expert, game)
    env = AtariEnv(game, preset, training=False, seed=seed)
    max_steps = env.preset.max_episode_steps if max_steps is None else max_steps
    return play_episode(expert, env, seed, noise, max_steps, np.random.default_rng(seed))


def evaluate_expert(
    expert: Expert | str,
    game: str,
    preset: str = "nature",
    episodes: int = 10,
    seed: int = 0,
    noise: float = 0.0,
    max_steps: int | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Plays `episodes` full games (seeds `seed`, `seed + 1`, ...) on `AtariEnv(training=False)`.

    Args:
      expert: an `Expert`, or its registry name.
      noise: probability that the executed action is uniformly random.
      max_steps: per-episode step budget (default: the preset's time limit, 27,000 steps in "nature").
        A game cut by it has stalled; Pong's experts finish a game in 2,000 to 5,000 steps.
      workers: processes playing games at once. More than one needs `expert` by registry name (each
        process makes its own); the returns are the same for any number (`play_game`).

    Returns:
      {"returns", "mean_return", "std_return", "steps" (total), "episode_steps", "budget_hits" (games
      cut by `max_steps`), "time_limits" (games ended by the preset's time limit), "steps_per_s"};
      returns are true game scores (unclipped, all lives).
    """
    if isinstance(expert, str):
        make_expert(expert, game)  # an unknown name or game fails here, not in a worker
    elif workers > 1:
        raise ValueError(f"workers={workers} needs the expert's registry name, not an Expert object")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a probability in [0, 1], got {noise}")
    one_game = functools.partial(play_game, expert, game, preset, noise=noise, max_steps=max_steps)
    seeds = range(seed, seed + episodes)
    start = time.perf_counter()
    if workers > 1 and episodes > 1:
        # spawn, not fork: the parent may hold jax's threads, which a forked child would inherit locked.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, episodes), mp_context=context) as pool:
            games = list(pool.map(one_game, seeds))
    else:
        games = [one_game(s) for s in seeds]
    elapsed = time.perf_counter() - start
    returns = [score for score, _, _ in games]
    lengths = [steps for _, steps, _ in games]
    return {
        "returns": returns,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "steps": int(sum(lengths)),
        "episode_steps": lengths,
        "budget_hits": sum(ending == "budget" for _, _, ending in games),
        "time_limits": sum(ending == "time_limit" for _, _, ending in games),
        "steps_per_s": sum(lengths) / elapsed,
    }
