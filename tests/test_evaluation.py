"""The evaluator on a scripted environment: whole games, true scores, nothing after a game ends, a cap."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imitax import cli
from imitax.agents.algorithms import DQN_FAST
from imitax.envs import NATURE, XlaEnv, make_vec_env
from imitax.envs.presets import with_sticky_actions
from imitax.train import run_dir as rd
from imitax.train.evaluation import Evaluator
from imitax.train.runner import prepare
from imitax.types import EnvStep
from tests.tiny_runs import train_tiny_dqn

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


def _frames_after(preset, actions: np.ndarray) -> np.ndarray:
    env = make_vec_env("Pong", 1, preset=preset, training=False, seed=3)
    env.reset()
    for action in actions:
        obs = env.step(np.array([action], np.int32)).obs
    env.close()
    return np.asarray(obs)


def test_sticky_actions_keep_the_agents_action_set_and_make_some_presses_slip():
    sticky = with_sticky_actions(NATURE)
    assert (sticky.sticky_action_prob, sticky.noop_max, sticky.fire_reset) == (0.25, 1, False)
    assert sticky.max_episode_frames == 108_000 and sticky.frame_stack == NATURE.frame_stack
    assert with_sticky_actions("nature") == sticky  # by name too
    still = dataclasses.replace(sticky, sticky_action_prob=0.0)
    spec = make_vec_env("Pong", 1, preset=sticky, training=False).spec
    assert spec.action_ids == make_vec_env("Pong", 1, preset=NATURE).spec.action_ids  # 6 actions, not 18
    # The paddle turns every 3 steps: with sticky actions some turns come late, so it ends elsewhere.
    actions = np.tile([2, 2, 2, 3, 3, 3], 30)
    assert not np.array_equal(_frames_after(sticky, actions), _frames_after(still, actions))
    np.testing.assert_array_equal(_frames_after(still, actions), _frames_after(still, actions))


@pytest.mark.timeout(300)
def test_eval_plays_a_run_with_sticky_actions(tmp_path, capsys):
    run = train_tiny_dqn(tmp_path / "run")
    assert cli.main(["eval", str(run), "--episodes", "1", "--epsilon", "1", "--sticky-actions", "True"]) == 0
    shown = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shown["sticky_actions"] is True and shown["episodes"] == 1 and -21 <= shown["return_mean"] <= 21


@pytest.mark.timeout(300)
def test_the_evaluation_at_the_last_step_plays_final_eval_episodes_per_seed(tmp_path):
    run = train_tiny_dqn(
        tmp_path / "run",
        env="CartPole-v1",
        num_seeds=2,
        eval_every=16,
        eval_episodes=1,
        final_eval_episodes=3,
    )
    for seed in ("seed0", "seed1"):
        rows = rd.read_rows(run / seed / rd.EVAL_FILE)
        games = [(int(r["step"]), len(r["returns"].split())) for r in rows]
        assert games == [(16, 1), (32, 3)]  # the curve's point, then the run's final figure
        assert int(rows[-1]["episodes"]) == 3
    past = train_tiny_dqn(tmp_path / "past", env="CartPole-v1", total_steps=31, final_eval_episodes=3)
    (last,) = rd.read_rows(past / rd.EVAL_FILE)  # 2 envs end at step 32, past the final step 31
    assert (last["step"], last["episodes"]) == ("32", "3")
    with pytest.raises(ValueError, match="final_eval_episodes must be >= 1"):
        dataclasses.replace(DQN_FAST, final_eval_episodes=0)
