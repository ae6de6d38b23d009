"""Environments: names, presets, both Atari paths frame for frame, training-only settings, XLA steps."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imitax.envs import (
    MACHADO,
    NATURE,
    AtariEnv,
    UnknownGameError,
    canonical_game,
    get_preset,
    make_vec_env,
)


@pytest.mark.parametrize(
    "typed, name",
    [
        ("Pong", "Pong"),
        ("pong", "Pong"),
        ("ALE/Breakout-v5", "Breakout"),
        ("space_invaders", "SpaceInvaders"),
        ("SpaceInvadersNoFrameskip-v4", "SpaceInvaders"),
        ("montezuma_revenge", "MontezumaRevenge"),
    ],
)
def test_game_names_in_any_common_spelling(typed, name):
    assert canonical_game(typed) == name


def test_unknown_game_suggests_the_closest():
    with pytest.raises(UnknownGameError, match=r"Unknown Atari game 'Pongg'\. Did you mean Pong"):
        make_vec_env("Pongg")
    with pytest.raises(UnknownGameError, match="Did you mean Breakout"):
        AtariEnv("Breakuot")
    with pytest.raises(UnknownGameError, match="CartPole-v1"):
        make_vec_env("CartPole-v2")


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of"):
        get_preset("atari100k")


@pytest.mark.parametrize("preset", [NATURE, MACHADO])
@pytest.mark.parametrize("game", ["Pong", "Breakout"])
def test_both_paths_share_the_spec(game, preset):
    vec = make_vec_env(game, 2, preset=preset)
    ale = AtariEnv(game, preset)
    assert ale.spec_.obs_shape == vec.spec.obs_shape == (4, 84, 84)
    assert ale.spec_.action_meanings == vec.spec.action_meanings
    assert ale.observation_space.shape == vec.reset().obs.shape[1:]
    assert ale.observation_space.dtype == vec.reset().obs.dtype == np.uint8
    assert ale.action_space.n == vec.spec.num_actions
    if preset is MACHADO:
        assert vec.spec.num_actions == 18
    vec.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("game", ["Pong", "Breakout"])
def test_both_paths_give_the_same_frames(game):
    """With no random draws (a fixed no-op count, no sticky actions), the two paths are bit-identical,
    through resets and lost lives."""
    preset = dataclasses.replace(NATURE, noop_max=1)
    ale = AtariEnv(game, preset, training=True)
    vec = make_vec_env(game, 1, preset=preset, training=True)
    obs_ale, _ = ale.reset()
    step = vec.reset()
    np.testing.assert_array_equal(obs_ale, step.obs[0])
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(1200):
        action = int(rng.integers(ale.spec_.num_actions))
        obs_ale, reward, terminated, truncated, info = ale.step(action)
        step = vec.step(np.array([action]))
        np.testing.assert_array_equal(obs_ale, step.obs[0])
        assert (reward, info["score"], terminated, info["game_over"]) == (
            step.reward[0],
            step.score[0],
            step.terminated[0],
            step.game_over[0],
        )
        if terminated or truncated:
            ends += 1
            obs_ale, info = ale.reset()
            step = vec.step(np.array([0]))  # envpool resets on the step after an episode's end
            np.testing.assert_array_equal(obs_ale, step.obs[0])
            assert info["first"] == step.first[0]
    assert ends >= 1


def test_training_clips_rewards_and_scores_stay_true():
    env = make_vec_env("SpaceInvaders", 4, training=True, seed=1)
    env.reset()
    rewards, scores = [], []
    for _ in range(300):
        step = env.step(np.random.default_rng(0).integers(0, env.spec.num_actions, 4))
        rewards.append(step.reward)
        scores.append(step.score)
    rewards, scores = np.array(rewards), np.array(scores)
    assert set(np.unique(rewards)) <= {-1.0, 0.0, 1.0}
    assert scores.max() > 1  # aliens are worth 5 to 30 points
    np.testing.assert_array_equal(rewards, np.sign(scores))


def test_episodic_life_only_in_training():
    def run(training: bool):
        env = make_vec_env("Breakout", 1, training=training, seed=0)
        env.reset()
        ends = games = 0
        for _ in range(1500):
            step = env.step(np.random.default_rng(1).integers(0, env.spec.num_actions, 1))
            ends += int(step.terminated[0])
            games += int(step.game_over[0])
        return ends, games

    train_ends, train_games = run(True)
    eval_ends, eval_games = run(False)
    assert train_ends > train_games >= 1  # lost lives end learning episodes, the game goes on
    assert eval_ends == eval_games >= 1  # evaluation: only the real game over


def test_preset_settings_are_recorded():
    env = make_vec_env("Pong", 1, preset="machado", training=True)
    settings = env.spec.settings()["preset"]
    assert settings["name"] == "machado"
    assert settings["sticky_action_prob"] == 0.25
    assert settings["full_action_space"] is True
    assert settings["episodic_life"] is False  # the machado preset has no loss-of-life signal
    assert settings["training"] is True
    assert make_vec_env("Pong", 1, training=False).spec.settings()["preset"]["reward_clip"] is False


@pytest.mark.timeout(120)
def test_xla_step_inside_jit_matches_python_stepping():
    actions = np.random.default_rng(0).integers(0, 6, (40, 4)).astype(np.int32)
    python_env = make_vec_env("Pong", 4, seed=5)
    python_env.reset()
    for a in actions:
        want = python_env.step(a)

    xla_env = make_vec_env("Pong", 4, seed=5)
    xla_env.reset()
    xla = xla_env.xla()

    @jax.jit
    def play(handle, actions):
        def body(handle, a):
            handle, step = xla.step(handle, a)
            return handle, step.obs

        return jax.lax.scan(body, handle, actions)

    _, obs = play(xla.handle, jnp.asarray(actions))
    np.testing.assert_array_equal(obs[-1], want.obs)


def test_vector_task_spec():
    env = make_vec_env("CartPole-v1", 3)
    assert env.spec.frame_stack is None
    assert env.spec.obs_shape == (4,)
    assert env.spec.num_actions == 2
    assert env.reset().obs.shape == (3, 4)
