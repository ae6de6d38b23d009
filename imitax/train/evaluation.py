"""Evaluation: whole games on separate environments, scored by the true (unclipped) game score."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from imitax.envs import VecEnv, is_atari, make_vec_env
from imitax.envs.presets import AtariPreset, with_sticky_actions
from imitax.train.loading import load_agent
from imitax.train.loop import seeds_vectorized


class EvalResult(NamedTuple):
    returns: np.ndarray  # (episodes,) true game scores
    lengths: np.ndarray  # (episodes,) steps per game

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std())

    def summary(self) -> dict[str, float]:
        return {
            "return_mean": self.mean,
            "return_std": self.std,
            "return_min": float(self.returns.min()),
            "return_max": float(self.returns.max()),
            "length_mean": float(self.lengths.mean()),
            "episodes": len(self.returns),
        }


class Evaluator:
    """Plays one whole game on each of `env.num_envs` environments with an epsilon-greedy policy.

    The environments are reset from Python before each evaluation; the play itself is one compiled
    `while_loop` over envpool's XLA step that runs until every game has ended. Games end at the preset's
    time limit at the latest; `max_steps` is only a guard beyond it.
    """

    def __init__(
        self,
        env: VecEnv,
        act: Callable[[Any, jax.Array, jax.Array, Any], jax.Array],
        epsilon: float,
        max_steps: int,
        num_seeds: int = 1,
    ):
        """With `num_seeds` K > 1 the agent state and the key hold K seeds (stacked) and seed k plays
        environments k*E to (k+1)*E - 1 of the env's K x E, each with its own key stream."""
        self.env, self.epsilon = env, epsilon
        xla = env.xla()
        self._handle = xla.handle
        split = jax.random.split if num_seeds == 1 else jax.vmap(jax.random.split)

        def act_all(agent_state, obs, key):
            if num_seeds == 1:
                return act(agent_state, obs, key, epsilon)
            obs = obs.reshape(num_seeds, -1, *obs.shape[1:])
            if seeds_vectorized():
                return jax.vmap(act, in_axes=(0, 0, 0, None))(agent_state, obs, key, epsilon).reshape(-1)
            return jax.lax.map(lambda x: act(*x, epsilon), (agent_state, obs, key)).reshape(-1)

        def play(agent_state, handle, obs, key):
            num_envs = obs.shape[0]

            def running(carry):
                _, _, _, done, _, _, t = carry
                return (~done.all()) & (t < max_steps)

            def body(carry):
                handle, obs, key, done, score, length, t = carry
                keys = split(key)
                key, key_act = keys[..., 0], keys[..., 1]
                actions = act_all(agent_state, obs, key_act)
                handle, step = xla.step(handle, actions)
                score = score + jnp.where(done, 0.0, step.score)
                length = length + (~done).astype(jnp.int32)
                return handle, step.obs, key, done | step.game_over, score, length, t + 1

            zeros = jnp.zeros(num_envs, jnp.float32)
            init = (handle, obs, key, jnp.zeros(num_envs, bool), zeros, zeros.astype(jnp.int32), 0)
            handle, _, _, _, score, length, _ = jax.lax.while_loop(running, body, init)
            return handle, score, length

        self._play = jax.jit(play, donate_argnums=1)

    def __call__(self, agent_state: Any, key: jax.Array) -> EvalResult:
        first = self.env.reset()
        self._handle, score, length = self._play(agent_state, self._handle, first.obs, key)
        score, length = jax.device_get((score, length))
        return EvalResult(returns=np.asarray(score), lengths=np.asarray(length))


def evaluate_run(
    run_dir: str,
    episodes: int = 10,
    epsilon: float = 0.05,
    step: int | None = None,
    seed: int = 12345,
    sticky_actions: bool = False,
) -> tuple[EvalResult, int]:
    """Plays `episodes` whole games with a run's checkpoint (the latest by default), on fresh evaluation
    environments (training-only settings off), under the run's preset or, with `sticky_actions`, under
    Machado et al. 2018's stochasticity (`imitax.envs.presets.with_sticky_actions`). Returns the result and
    the checkpoint's step."""

    loaded = load_agent(run_dir, step)
    config = loaded.config
    preset: str | AtariPreset = config.env_preset
    if sticky_actions:
        if not is_atari(config.env):
            raise ValueError(f"sticky actions are an Atari setting; {config.env} has none")
        preset = with_sticky_actions(config.env_preset)
    env = make_vec_env(config.env, episodes, preset=preset, training=False, seed=seed)
    max_steps = env.spec.preset.max_episode_steps + 2 if env.spec.preset else 100_000
    evaluator = Evaluator(env, loaded.agent.act, epsilon, max_steps)
    return evaluator(loaded.state, jax.random.key(seed)), loaded.step
