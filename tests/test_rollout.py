"""DAgger's rollout: the mixture of learner and expert it executes, the expert's labels on every visited
state, and games that go on across rounds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imitax.data.rollout import RolloutState, collect
from imitax.envs import NATURE, AtariEnv
from imitax.experts import make_expert

NUM_ACTIONS = 6  # Pong's minimal action set


class Learner:
    """A deterministic stand-in for the learner's network: an action from the newest frame's pixels. Keeps
    the observations it was given."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        assert obs.shape[1:] == (4, 84, 84) and obs.dtype == np.uint8
        self.seen.append(obs.copy())
        return (obs[:, -1].astype(np.int64).sum(axis=(1, 2)) // 7) % NUM_ACTIONS


@pytest.fixture(scope="module")
def expert():
    return make_expert("pong-search", "Pong")


def pong_envs(n: int, preset=NATURE) -> list[AtariEnv]:
    return [AtariEnv("Pong", preset, training=False) for _ in range(n)]


@pytest.mark.timeout(120)
def test_learner_plays_at_beta_zero_and_the_expert_labels_every_state(expert):
    """200 steps on 2 envs with beta=0: the learner's actions are executed; replaying each game from its
    seed with those actions shows the stored frames and rewards, and the expert's action in every state is
    its label."""
    learner = Learner()
    state = RolloutState(pong_envs(2), seed=5)
    rollout = state.collect(learner, expert, 200, beta=0.0, rng=np.random.default_rng(0))
    assert rollout.steps == rollout.labels == 200 and rollout.scores == [] and rollout.seconds < 60
    assert len(rollout.episodes) == 2  # no Pong game ends in 100 steps: each is cut, truncated
    played = np.stack(learner.seen)  # (100, 2, 4, 84, 84)
    chosen = np.stack([learner(obs) for obs in played])
    for i, episode in enumerate(rollout.episodes):
        assert episode.num_steps == 100 and episode.truncations[-1] and not episode.terminations.any()
        assert not episode.truncations[:-1].any()
        np.testing.assert_array_equal(episode.actions, chosen[:, i])
        np.testing.assert_array_equal(episode.frames[:-1], played[:, i, -1])
        np.testing.assert_array_equal(episode.extras["elapsed_step"], np.arange(101))
        replay = AtariEnv("Pong")
        obs, _ = replay.reset(seed=5 + i)
        labels, frames, rewards = [], [obs[-1]], []
        for action in episode.actions:
            labels.append(expert.act(replay))
            obs, reward, *_ = replay.step(int(action))
            frames.append(obs[-1])
            rewards.append(reward)
        np.testing.assert_array_equal(episode.labels, labels)
        np.testing.assert_array_equal(episode.frames, np.stack(frames))
        np.testing.assert_array_equal(episode.rewards, rewards)
    disagreed = np.mean([np.mean(e.actions != e.labels) for e in rollout.episodes])
    assert rollout.disagreement == pytest.approx(disagreed) and 0 < rollout.disagreement < 1


def test_expert_plays_at_beta_one(expert):
    rollout = collect(Learner(), expert, pong_envs(2), 60, beta=1.0, rng=np.random.default_rng(1))
    assert sum(e.num_steps for e in rollout.episodes) == 60
    for episode in rollout.episodes:
        np.testing.assert_array_equal(episode.actions, episode.labels)


def test_beta_mixes_per_env_and_step(expert):
    """At beta=0.5 about half the steps where learner and expert differ execute the expert's action; an
    uneven step count moves only the first envs on the last lockstep step."""
    learner = Learner()
    rollout = collect(learner, expert, pong_envs(2), 121, beta=0.5, rng=np.random.default_rng(2))
    assert [e.num_steps for e in rollout.episodes] == [61, 60]
    chosen = np.stack([learner(obs) for obs in np.stack(learner.seen)])  # (61, 2)
    executed_expert = executed_learner = 0
    for i, episode in enumerate(rollout.episodes):
        mine = chosen[: episode.num_steps, i]
        assert np.all((episode.actions == episode.labels) | (episode.actions == mine))
        differ = mine != episode.labels
        executed_expert += int(np.sum(episode.actions[differ] == episode.labels[differ]))
        executed_learner += int(np.sum(episode.actions[differ] == mine[differ]))
    assert executed_expert > 10 and executed_learner > 10


def test_epsilon_replaces_executed_actions_by_random_ones_and_keeps_the_experts_labels(expert):
    """At beta=1 the expert plays; epsilon 0.3 replaces about 0.3 of its actions by uniform ones (5 in 6
    differ), while every label stays the expert's. Epsilon 0 draws nothing more than the mixture, so runs
    recorded before epsilon existed replay as they were."""
    rollout = collect(
        Learner(), expert, pong_envs(2), 200, beta=1.0, rng=np.random.default_rng(4), epsilon=0.3
    )
    actions = np.concatenate([e.actions for e in rollout.episodes])
    labels = np.concatenate([e.labels for e in rollout.episodes])
    assert 0.12 < np.mean(actions != labels) < 0.4
    assert len(set(actions[actions != labels].tolist())) >= 4  # uniform over the action set
    rng, reference = np.random.default_rng(5), np.random.default_rng(5)
    collect(Learner(), expert, pong_envs(2), 20, beta=0.5, rng=rng, epsilon=0.0)
    reference.integers(2**31)  # the envs' seed
    for _ in range(10):  # one mixture draw per lockstep step
        reference.random(2)
    assert rng.random() == reference.random()


def test_games_go_on_across_rounds(expert):
    """Games of 70 steps (the preset's time limit) and rounds of 50 steps an env: round 1 cuts both games;
    round 2 continues them from where the pieces ended, ends them (scored over both pieces) and cuts the
    next games after 30 steps."""
    short = dataclasses.replace(NATURE, max_episode_frames=4 * 70)
    state = RolloutState(pong_envs(2, short), seed=0)
    rng = np.random.default_rng(3)
    first = state.collect(Learner(), expert, 100, beta=0.5, rng=rng)
    second = state.collect(Learner(), expert, 100, beta=0.5, rng=rng)
    assert first.scores == [] and len(first.episodes) == 2
    assert len(second.episodes) == 4 and len(second.scores) == 2
    ended, cut = second.episodes[:2], second.episodes[2:]
    for before, end, after in zip(first.episodes, ended, cut, strict=True):
        assert before.num_steps == 50 and before.truncations[-1]
        assert end.num_steps == 20 and end.truncations[-1]  # the time limit, a game's end
        np.testing.assert_array_equal(end.frames[0], before.frames[-1])  # it goes on where it was cut
        np.testing.assert_array_equal(end.extras["elapsed_step"], np.arange(50, 71))
        np.testing.assert_array_equal(after.extras["elapsed_step"], np.arange(31))
        assert after.num_steps == 30 and after.truncations[-1]
    assert second.scores == [b.score + e.score for b, e in zip(first.episodes, ended, strict=True)]


def test_bad_rollout_input_is_clear(expert):
    with pytest.raises(ValueError, match="training=False"):
        RolloutState([AtariEnv("Pong", training=True)])
    state = RolloutState(pong_envs(2))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="beta must be a probability"):
        state.collect(Learner(), expert, 10, beta=1.5, rng=rng)
    with pytest.raises(ValueError, match="epsilon must be a probability"):
        state.collect(Learner(), expert, 10, beta=1.0, rng=rng, epsilon=-0.1)
    with pytest.raises(ValueError, match=r"returned shape \(1,\) for 2 observations"):
        state.collect(lambda obs: np.zeros(1, np.int64), expert, 10, beta=0.0, rng=rng)
    with pytest.raises(ValueError, match="plays Breakout"):
        state.collect(Learner(), make_expert("breakout-search", "Breakout"), 10, beta=0.0, rng=rng)
