"""Sight experts decide from the observation alone: a stand-in env holding nothing but the observation
gets the same action, stored observations get the live labels, and they play."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from imitax.envs import AtariEnv
from imitax.experts import Oracle, decisive_steps, default_expert, evaluate_expert, make_expert
from imitax.experts.base import SightExpert

SIGHT = [("pong-sight", "Pong"), ("breakout-sight", "Breakout")]


def _play(expert, game: str, steps: int, seed: int) -> tuple[np.ndarray, list[int], AtariEnv]:
    """The observations the expert saw and its labels, every 5th executed action random."""
    env = AtariEnv(game, training=False, seed=seed)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    stacks, labels = [], []
    for t in range(steps):
        label = expert.act(env)
        stacks.append(env.observation)
        labels.append(label)
        action = label if t % 5 else int(rng.integers(env.action_space.n))
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return np.stack(stacks), labels, env


@pytest.mark.parametrize("name, game", SIGHT)
def test_a_sight_expert_reads_nothing_but_the_observation(name, game):
    expert = make_expert(name, game)
    assert isinstance(expert, SightExpert) and default_expert(game) == name
    stacks, labels, env = _play(expert, game, steps=240, seed=4)
    fresh = make_expert(name, game)
    for stack, label in zip(stacks[::3], labels[::3], strict=True):
        seen = SimpleNamespace(observation=stack, spec_=env.spec_)  # no emulator, no RAM, no history
        assert fresh.act(seen) == label
    stored = fresh.label_observations(stacks, env.spec_.action_meanings)
    assert stored.dtype == np.int32 and stored.tolist() == labels
    assert len(set(labels)) >= 2


@pytest.mark.parametrize("name, game", SIGHT)
def test_decisive_steps_are_a_few_of_a_game(name, game):
    stacks, _, _ = _play(make_expert(name, game), game, steps=400, seed=1)
    decisive = decisive_steps(game, stacks)
    assert decisive.dtype == bool and 0.02 < decisive.mean() < 0.4


def test_an_oracle_over_emulator_states_refuses_a_sight_expert():
    with pytest.raises(ValueError, match="decides from observations, not emulator states"):
        Oracle("Pong", expert="pong-sight")
    assert Oracle("Pong").expert.name == "pong-search"  # states are labelled by search


def test_pong_sight_wins_points_and_breakout_sight_scores_keeping_its_lives():
    env = AtariEnv("Pong", training=False, seed=0)
    env.reset(seed=0)
    expert = make_expert("pong-sight", "Pong")
    rewards = [env.step(expert.act(env))[1] for _ in range(1_500)]  # rallies are long: 21 points take 6k+
    assert rewards.count(1.0) >= 2 and rewards.count(1.0) > rewards.count(-1.0)
    result = evaluate_expert("breakout-sight", "Breakout", episodes=1, seed=0, max_steps=600)
    assert result["mean_return"] >= 20


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, game, least", [("pong-sight", "Pong", 15.0), ("breakout-sight", "Breakout", 150.0)]
)
def test_sight_experts_score_over_ten_games(name, game, least):
    result = evaluate_expert(name, game, episodes=10, seed=0)
    assert result["mean_return"] >= least


def _pong_frames(paddle_row: int, ball_cols: tuple[int, ...], ball_row: int) -> np.ndarray:
    """A (4, 84, 84) stack drawn like Pong's: gray field, the player's paddle resting at `paddle_row`,
    the ball at `ball_row` in column ball_cols[k] of frame k."""
    stack = np.full((4, 84, 84), 87, np.uint8)
    stack[:, paddle_row : paddle_row + 6, 73:76] = 147
    for frame, col in zip(stack, ball_cols, strict=True):
        frame[ball_row : ball_row + 2, col] = 236
    return stack


@pytest.mark.parametrize(
    "paddle_row, ball_row, expected",
    # LEFT moves Pong's paddle down; a ball 6-7 observation rows (~17 units) off is followed, one 2 is not
    [(20, 60, "LEFT"), (60, 20, "RIGHT"), (40, 47, "LEFT"), (40, 42, "NOOP")],
)
def test_pong_sight_follows_the_ball_while_none_comes(paddle_row, ball_row, expected):
    from imitax.experts.base import LEFT, NOOP, RIGHT

    leaving = _pong_frames(paddle_row, (52, 48, 44, 40), ball_row)  # the ball flies to the opponent
    actions = {"LEFT": LEFT, "RIGHT": RIGHT, "NOOP": NOOP}
    assert make_expert("pong-sight", "Pong").decide(leaving) == actions[expected]


def test_pong_sight_recover_takes_back_a_press_it_did_not_choose():
    """A random action (the evaluation's epsilon, a DART slip) sets the resting paddle moving while a ball
    comes: the expert presses the other way at once, not after the paddle settles."""
    from imitax.experts.base import NOOP, action_index
    from imitax.experts.pong_sight import MIDDLE_Y, PADDLE_DOWN, PADDLE_UP, incoming_hit, paddle_y

    env = AtariEnv("Pong", training=False, seed=0)
    env.reset(seed=0)
    expert = make_expert("pong-sight-recover", "Pong")
    for _ in range(3_000):
        stack, hit = env.observation, incoming_hit(env.observation)
        rest = [paddle_y(frame) for frame in stack[-3:]]
        if hit and hit[0] > 16 and None not in rest and np.ptp(rest) < 0.5 and expert.decide(stack) == NOOP:
            break
        env.step(expert.act(env))
    else:
        pytest.fail("no resting paddle with a ball coming in 3,000 steps")
    slip, back = (PADDLE_UP, PADDLE_DOWN) if rest[-1] > MIDDLE_Y else (PADDLE_DOWN, PADDLE_UP)
    env.step(action_index(env, slip))
    assert expert.decide(env.observation) == back


def test_pong_sight_sees_no_slip_in_its_own_play():
    """Without random actions every motion of the paddle is the expert's own: the rule never fires, so
    clean games are played as before. Both of its paths are met: paddles leaving a rest (the decision a
    step back is recomputed) and paddles turning (one still frame, not a rest)."""
    from imitax.experts.pong_sight import REST_TOLERANCE, incoming_hit, paddle_y

    env = AtariEnv("Pong", training=False, seed=1)
    env.reset(seed=1)
    expert, leaving, turning = make_expert("pong-sight-recover", "Pong"), 0, 0
    for _ in range(2_500):
        stack = env.observation
        oldest, older, before, now = (paddle_y(frame) for frame in stack)
        moving = None not in (oldest, older, before, now) and abs(now - before) >= REST_TOLERANCE
        if moving and incoming_hit(stack) is not None:  # where `decide` asks
            direction = 1 if now > before else -1
            assert not expert.slipped(stack, direction, older, before)
            if abs(before - older) < REST_TOLERANCE:
                turned = (older - oldest) * direction <= -REST_TOLERANCE
                leaving, turning = leaving + (not turned), turning + turned
        env.step(expert.act(env))
    assert leaving >= 5 and turning >= 5


def test_pong_sight_recover_wins_under_the_nature_protocols_random_actions():
    # One random action in 20 (epsilon 0.05): pong-sight loses this game -15.
    recovering = evaluate_expert("pong-sight-recover", "Pong", episodes=1, seed=777, noise=0.05)
    assert recovering["mean_return"] > 0
