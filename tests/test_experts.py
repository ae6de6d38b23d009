"""Built-in experts: decisions are pure functions of the emulator state, the env is left untouched,
actions map by meaning onto any action set, names fail clearly, and the experts score."""

from __future__ import annotations

import numpy as np
import pytest

from imitax.envs import AtariEnv
from imitax.experts import (
    BreakoutSearchExpert,
    PongSearchExpert,
    available_experts,
    default_expert,
    evaluate_expert,
    make_expert,
    search_expert,
)
from imitax.experts.base import action_index

EXPERTS = [("pong-search", "Pong"), ("breakout-search", "Breakout")]


def _visit(expert, game: str, steps: int, seed: int = 0) -> list[tuple[object, int, bool]]:
    """Plays `steps` steps (the expert, with every 5th action random) and returns, at every step, the
    cloned state, the expert's label there and whether it searched."""
    env = AtariEnv(game, training=False, seed=seed)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    visited = []
    for t in range(steps):
        searched = expert.searching(env.ale.getRAM())
        label = expert.act(env)
        visited.append((env.clone_state(), label, searched))
        action = label if t % 5 else int(rng.integers(env.action_space.n))
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return visited


@pytest.mark.parametrize("name, game", EXPERTS)
def test_same_state_from_another_history_gets_the_same_label(name, game):
    visited = _visit(make_expert(name, game), game, steps=200)
    assert sum(searched for _, _, searched in visited) >= 5, "the walk should reach searched states"
    # A second env that played differently, and a fresh expert with nothing cached.
    other = AtariEnv(game, training=False, seed=7)
    other.reset(seed=7)
    for _ in range(40):
        other.step(int(other.action_space.sample()))
    fresh = make_expert(name, game)
    for state, label, _ in visited[::4]:
        other.restore_state(state)
        assert fresh.act(other) == label


@pytest.mark.parametrize("name, game", EXPERTS)
def test_act_leaves_the_env_untouched(name, game):
    expert = make_expert(name, game)
    envs = [AtariEnv(game, training=False, seed=3) for _ in range(2)]
    for env in envs:
        env.reset(seed=3)
    searched = 0
    for t in range(120):
        ram, screen = envs[0].ale.getRAM().copy(), envs[0].ale.getScreenRGB().copy()
        searched += expert.searching(ram)
        action = expert.act(envs[0])  # only envs[0] is labelled
        np.testing.assert_array_equal(envs[0].ale.getRAM(), ram)
        np.testing.assert_array_equal(envs[0].ale.getScreenRGB(), screen)
        assert envs[0].clone_state().serialize() == envs[1].clone_state().serialize()
        action = action if t % 4 else (t // 4) % envs[0].action_space.n
        steps = [env.step(action) for env in envs]
        np.testing.assert_array_equal(steps[0][0], steps[1][0])  # observations
        assert steps[0][1:4] == steps[1][1:4]  # reward, terminated, truncated
    assert searched > 0


def test_label_is_act_for_each_env():
    expert = make_expert("pong-search", "Pong")
    envs = [AtariEnv("Pong", training=False, seed=s) for s in range(3)]
    for seed, env in enumerate(envs):
        env.reset(seed=seed)
        for _ in range(60 + 30 * seed):
            env.step(expert.act(env))
    labels = expert.label(envs)
    assert labels.dtype == np.int32 and labels.shape == (3,)
    # Each label is what a fresh expert decides alone in a copy of that env's state, not a neighbour's.
    expected = []
    for env in envs:
        alone = AtariEnv("Pong", training=False)
        alone.reset(seed=0)
        alone.restore_state(env.clone_state())
        expected.append(make_expert("pong-search", "Pong").act(alone))
    assert labels.tolist() == expected


@pytest.mark.parametrize(
    "name, game, meanings",
    [
        ("pong-search", "Pong", {"NOOP", "RIGHT", "LEFT"}),
        ("breakout-search", "Breakout", {"NOOP", "FIRE", "RIGHT", "LEFT"}),
    ],
)
def test_actions_map_by_meaning_onto_the_full_action_set(name, game, meanings):
    expert = make_expert(name, game)
    env = AtariEnv(game, "machado", training=False, seed=1)
    env.reset(seed=1)
    assert env.action_space.n == 18
    chosen, score = set(), 0.0
    for _ in range(300):
        action = expert.act(env)
        chosen.add(env.spec_.action_meanings[action])
        _, reward, *_ = env.step(action)
        score += reward
    assert chosen <= meanings and len(chosen) >= 2
    assert score > 0  # it plays (sticky actions included), not just names actions


def test_action_index_is_found_by_meaning():
    nature, machado = AtariEnv("Pong", "nature"), AtariEnv("Pong", "machado")
    assert nature.spec_.action_meanings[action_index(nature, 3)] == "RIGHT"
    assert machado.spec_.action_meanings[action_index(machado, 3)] == "RIGHT"
    with pytest.raises(ValueError, match="has no DOWN action"):
        action_index(nature, 5)


def test_registry_lists_experts_and_defaults():
    assert available_experts() == {
        "pong-sight": ("Pong",),
        "pong-sight-recover": ("Pong",),
        "breakout-sight": ("Breakout",),
        "pong-search": ("Pong",),
        "breakout-search": ("Breakout",),
    }
    assert default_expert("pong") == "pong-sight"  # the defaults decide from what a learner sees
    assert default_expert("ALE/Breakout-v5") == "breakout-sight"
    assert search_expert("pong") == "pong-search" and search_expert("Breakout") == "breakout-search"
    assert isinstance(make_expert("pong-search", "PongNoFrameskip-v4"), PongSearchExpert)
    assert isinstance(make_expert("breakout-search", "breakout"), BreakoutSearchExpert)


def test_bad_names_give_clear_errors():
    with pytest.raises(ValueError, match=r"Unknown expert 'pong-perfect'.*pong-search \(Pong\)"):
        make_expert("pong-perfect", "Pong")
    with pytest.raises(ValueError, match=r"'pong-search' plays Pong, not Breakout"):
        make_expert("pong-search", "Breakout")
    with pytest.raises(ValueError, match=r"No built-in expert plays SpaceInvaders.*Pong, Breakout"):
        default_expert("SpaceInvaders")
    with pytest.raises(ValueError, match="Unknown Atari game"):
        make_expert("pong-search", "Pongg")
    with pytest.raises(ValueError, match=r"plays Pong, but the env is Breakout"):
        make_expert("pong-search", "Pong").act(AtariEnv("Breakout"))


def test_pong_expert_wins_the_first_point():
    env = AtariEnv("Pong", training=False, seed=0)
    env.reset(seed=0)
    expert = make_expert("pong-search", "Pong")
    for _ in range(400):
        _, reward, *_ = env.step(expert.act(env))
        if reward != 0:
            break
    assert reward == 1.0


def test_breakout_expert_scores_and_keeps_its_lives():
    env = AtariEnv("Breakout", training=False, seed=0)
    env.reset(seed=0)
    expert = make_expert("breakout-search", "Breakout")
    score = sum(env.step(expert.act(env))[1] for _ in range(300))
    assert score >= 5 and env.ale.lives() == 5


def test_evaluate_expert_reports_returns_and_budget_hits():
    result = evaluate_expert("pong-search", "Pong", episodes=2, seed=0, noise=0.5, max_steps=50)
    assert result["returns"] == [result["returns"][0], result["returns"][1]]
    assert result["steps"] == 100 and result["episode_steps"] == [50, 50]
    assert result["budget_hits"] == 2 and result["steps_per_s"] > 0
    assert result["mean_return"] == pytest.approx(np.mean(result["returns"]))
    with pytest.raises(ValueError, match="noise"):
        evaluate_expert("pong-search", "Pong", noise=1.5)


def test_games_played_by_worker_processes_are_the_games_played_here():
    """Each game's noise has its own generator, so a game's outcome depends on its seed, not on which
    process played it or which games it played before."""
    here = evaluate_expert("pong-sight", "Pong", episodes=3, seed=4, noise=0.5, max_steps=150)
    apart = evaluate_expert("pong-sight", "Pong", episodes=3, seed=4, noise=0.5, max_steps=150, workers=2)
    assert apart["returns"] == here["returns"] and apart["episode_steps"] == here["episode_steps"]
    alone = evaluate_expert("pong-sight", "Pong", episodes=1, seed=6, noise=0.5, max_steps=150)
    assert alone["returns"] == here["returns"][2:]
    with pytest.raises(ValueError, match="registry name"):
        evaluate_expert(make_expert("pong-sight", "Pong"), "Pong", episodes=2, workers=2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, game, least", [("pong-search", "Pong", 15.0), ("breakout-search", "Breakout", 50.0)]
)
def test_ten_game_scores(name, game, least):
    result = evaluate_expert(name, game, episodes=10, seed=0, max_steps=10_000 if game == "Pong" else 27_000)
    assert result["mean_return"] >= least
    if game == "Pong":
        assert result["budget_hits"] == 0


@pytest.mark.parametrize("name, game", EXPERTS)
def test_cached_outcomes_equal_fresh_rollouts(name, game):
    """The outcome cache is keyed by RAM without the player's paddle bytes: every cache hit must give
    what simulating from the actual state gives."""
    expert = make_expert(name, game)
    checked = []
    settled = type(expert)._settled

    def checking(self, mirror, reward, context):
        hits_before = len(self._outcomes)
        state = mirror.clone()
        value = settled(self, mirror, reward, context)
        if value is not None and value[0] == 1 and len(self._outcomes) == hits_before:  # a cache hit
            mirror.restore(state)
            checked.append(self.judge(mirror, context.frame_skip) == value[1:-1])
        return value

    expert._settled = checking.__get__(expert)
    _visit(expert, game, steps=150, seed=2)
    assert len(checked) >= 10 and all(checked)
