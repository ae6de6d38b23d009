"""The evaluator on a scripted environment: whole games, true scores, nothing after a game ends, a cap."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imitax.agents.algorithms import DQN_FAST
from imitax.envs import XlaEnv
from imitax.train.evaluation import Evaluator
from imitax.train.runner import prepare
from imitax.types import EnvStep

GAME_ENDS = jnp.array([3, 5, 10**6])  # env 2 never ends its game: only the cap stops it
LIFE_LOST = 2  # every env loses a life at step 2, which ends no game


class ScriptedEnv:
    """Three environments stepping in lockstep: each step pays a true score of 4 (clipped to 1 for
    training), a lost life at step 2, game over at GAME_ENDS; afterwards the env starts a new game that
    keeps paying, which the evaluator must not count."""

    num_envs = 3

    def _step(self, t: jax.Array) -> EnvStep:
        n = self.num_envs
        over = t == GAME_ENDS
        return EnvStep(
            obs=jnp.zeros((n, 1), jnp.float32),
            reward=jnp.ones(n, jnp.float32),
            score=jnp.full(n, 4.0),
            terminated=over | (t == LIFE_LOST),
            truncated=jnp.zeros(n, bool),
            first=jnp.zeros(n, bool),
            game_over=over,
        )

    def reset(self) -> EnvStep:
        return jax.tree.map(np.asarray, self._step(jnp.asarray(0)))

    def xla(self) -> XlaEnv:
        return XlaEnv(jnp.asarray(0), lambda handle, actions: handle + 1, lambda h: (h, self._step(h)))


def test_whole_games_true_scores_masked_after_the_end_and_capped():
    act = lambda state, obs, key, epsilon: jnp.zeros(obs.shape[0], jnp.int32)
    result = Evaluator(ScriptedEnv(), act, 0.0, max_steps=8)(None, jax.random.key(0))
    # env 0: 3 steps of 4 through a lost life; env 1: 5 steps; env 2: stopped by the cap at 8 steps.
    np.testing.assert_array_equal(result.returns, [12.0, 20.0, 32.0])
    np.testing.assert_array_equal(result.lengths, [3, 5, 8])


def test_evaluation_protocols_set_the_cap_and_epsilon_and_are_recorded(tmp_path):
    config = dataclasses.replace(
        DQN_FAST, eval_protocol="nature", replay_capacity=1000, num_envs=2, run_dir=str(tmp_path / "run")
    )
    assert config.eval_preset.max_episode_frames == 18_000 and config.resolved_eval_epsilon == 0.05
    run = prepare(config, resume=False, quiet=True)  # builds everything, writes nothing yet
    record = run.seeds[0].record
    assert record["config"]["eval_protocol"] == "nature"
    assert record["eval_env"]["preset"]["max_episode_frames"] == 18_000
    assert record["env"]["preset"]["max_episode_frames"] == 108_000  # training games stay whole
    assert run.evaluator.epsilon == 0.05 and not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="--eval-protocol machado evaluates Atari games trained with"):
        dataclasses.replace(DQN_FAST, eval_protocol="machado")
    own = dataclasses.replace(DQN_FAST, eval_protocol="preset", eval_epsilon=0.2)
    assert own.resolved_eval_epsilon == 0.2
