"""Prioritized replay (Schaul et al. 2016) with DQfD's demonstration bonus, against numpy references and
hand-computed values."""

from __future__ import annotations

import collections
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from imitax.replay import ReplayConfig, Step, make_replay, state_nbytes, sum_tree
from imitax.types import EnvSpec
from tests.test_replay import FakeGame, _as_step, _expected_rows, _fill

ALPHA, EPS_AGENT, EPS_DEMO = 0.6, 1e-3, 1.0
STACK, NUM_ENVS = 4, 3


@pytest.fixture(scope="module")
def filled():
    """A prioritized replay filled once for several tests: demonstrations, and three agent streams that
    wrapped with episodes ending. Tests must not donate its state."""
    config = ReplayConfig(
        capacity=NUM_ENVS * 16, demo_capacity=40, batch_size=64, n_step=3, discount=0.9, prioritized=True
    )
    return _fill(config, STACK, NUM_ENVS, 40, 4, 0.2, seed=2)


def _with(replay, **changes):
    """The same replay with other settings (its state fits)."""
    spec = EnvSpec("fake", (STACK, 1), "int32", STACK, 4)
    return make_replay(dataclasses.replace(replay.config, **changes), spec, replay.num_envs)


def _valid_rows(replay, reference) -> np.ndarray:
    """Rows that start a transition, according to the naive reference."""
    where = _expected_rows(replay, reference)
    return np.array(sorted(row for row, w in where.items() if reference.transition(*w) is not None))


def _priorities(replay, state) -> np.ndarray:
    """The priority of every row, read from the sum trees."""
    demo_rows, rows = replay.config.demo_capacity, replay.config.demo_capacity + replay.config.capacity
    demo = sum_tree.get(state.demo_tree, jnp.arange(demo_rows))
    agent = sum_tree.get(state.agent_tree, jnp.arange(rows - demo_rows))
    return np.concatenate([np.asarray(demo), np.asarray(agent)])


def _episode(count: int, last_at: tuple[int, ...] = ()) -> Step:
    """`count` steps of a one-number observation, episodes ending at `last_at`."""
    last = np.isin(np.arange(count), last_at)
    return Step(
        frame=jnp.arange(count, dtype=jnp.int32)[:, None],
        action=jnp.zeros(count, jnp.int32),
        label=jnp.zeros(count, jnp.int32),
        reward=jnp.zeros(count, jnp.float32),
        terminal=jnp.asarray(last),
        first=jnp.asarray(np.r_[True, last[:-1]]),
        last=jnp.asarray(last),
    )


def _one(steps: Step, t: int) -> Step:
    return jax.tree.map(lambda x: x[t : t + 1], steps)


def _tiny(stack: int | None = None, **kwargs):
    """A prioritized replay of one environment over one-number observations."""
    spec = EnvSpec("fake", (stack, 1) if stack else (1,), "int32", stack, 4)
    return make_replay(ReplayConfig(prioritized=True, **kwargs), spec, num_envs=1)


def _tiny_filled(**kwargs):
    """`_tiny` with demo rows 0-2 starting transitions (3 is an episode's last step), agent rows 4-8
    starting transitions (9 waits for its next step)."""
    replay = _tiny(capacity=6, demo_capacity=4, **kwargs)
    state = replay.add_demos(replay.init(), _episode(4, last_at=(3,)))
    add, steps = jax.jit(replay.add), _episode(6)
    for t in range(6):
        state = add(state, _one(steps, t))
    return replay, state


def test_sum_tree_sums_and_draws_like_a_cumsum():
    rng = np.random.default_rng(0)
    leaves = np.zeros(13, np.float32)
    tree = sum_tree.init(13)
    assert tree.shape == (32,)
    for _ in range(5):  # integer priorities: float32 sums are exact
        indices = rng.integers(0, 13, 8)  # repeats included
        values = rng.integers(0, 5, 8).astype(np.float32)
        tree = jax.jit(sum_tree.set_leaves)(tree, jnp.asarray(indices), jnp.asarray(values))
        leaves = np.asarray(sum_tree.get(tree, jnp.arange(13)))
        assert set(leaves[indices]) <= set(values)
        np.testing.assert_array_equal(np.asarray(tree[16:29]), leaves)
        for node in range(1, 16):  # every parent is the sum of its children
            assert tree[node] == tree[2 * node] + tree[2 * node + 1]
    assert float(sum_tree.total(tree)) == leaves.sum()
    targets = np.arange(int(leaves.sum())) + 0.5
    found = np.asarray(jax.jit(sum_tree.find)(tree, jnp.asarray(targets, jnp.float32)))
    np.testing.assert_array_equal(found, np.searchsorted(np.cumsum(leaves), targets, side="right"))
    assert (leaves[found] > 0).all()
    edge = sum_tree.find(tree, jnp.asarray([sum_tree.total(tree)] * 2))  # rounding past the end
    assert (leaves[np.asarray(edge)] > 0).all()


@pytest.mark.parametrize("demo_fraction", [None, 0.3])
def test_draws_are_proportional_to_priority(filled, demo_fraction):
    replay, reference, state = filled
    replay = _with(replay, demo_fraction=demo_fraction)
    valid = _valid_rows(replay, reference)
    is_demo = valid < replay.config.demo_capacity
    assert 10 < is_demo.sum() < len(valid) - 10
    td = np.random.default_rng(1).uniform(0.2, 4.0, len(valid)).astype(np.float32)
    state = jax.jit(replay.set_priorities)(state, jnp.asarray(valid), jnp.asarray(td))

    p = (td + np.where(is_demo, EPS_DEMO, EPS_AGENT)) ** ALPHA  # the naive reference
    if demo_fraction is None:
        expected = p / p.sum()
    else:
        share = np.where(is_demo, demo_fraction / p[is_demo].sum(), (1 - demo_fraction) / p[~is_demo].sum())
        expected = p * share
    keys = jax.random.split(jax.random.key(0), 400)
    rows = np.asarray(jax.jit(jax.vmap(replay.sample_rows, in_axes=(None, 0)))(state, keys)).ravel()
    assert set(rows) <= set(valid)
    observed = np.bincount(rows, minlength=replay.config.demo_capacity + replay.config.capacity)[valid]
    assert (expected * len(rows) >= 5).all()  # the chi-square approximation holds
    assert scipy.stats.chisquare(observed, expected * len(rows)).pvalue > 1e-3
    assert scipy.stats.chisquare(observed).pvalue < 1e-9  # uniform sampling would fail here


def test_importance_weights_by_hand():
    kwargs = dict(batch_size=3, priority_exponent=1.0, priority_eps_agent=1.0, priority_eps_demo=1.0)
    replay, state = _tiny_filled(**kwargs)
    rows = jnp.asarray([0, 1, 2, 4, 5, 6, 7, 8])
    state = jax.jit(replay.set_priorities)(state, rows, jnp.asarray([0, 0, 0, 0, 1, 2, 3, 4], jnp.float32))
    np.testing.assert_allclose(_priorities(replay, state), [1, 1, 1, 0, 1, 2, 3, 4, 5, 0])

    batch = jnp.asarray([0, 4, 8])  # priorities 1 (demo), 1 and 5 (agent)
    # No fraction: P = p / 18 = (1, 1, 5) / 18, so w = (min P / P)^beta = (1, 1, 1/5)^beta.
    gather = jax.jit(replay.gather)
    weight = gather(state, batch).weight
    np.testing.assert_allclose(weight, [1.0, 1.0, 0.2], rtol=1e-6)
    weight = gather(state, batch, 0.5).weight
    np.testing.assert_allclose(weight, [1.0, 1.0, np.sqrt(0.2)], rtol=1e-6)
    # Half of each batch from demonstrations: P = (1/2 * 1/3, 1/2 * 1/15, 1/2 * 5/15) = (5, 1, 5) / 30.
    half = jax.jit(_tiny(capacity=6, demo_capacity=4, **kwargs, demo_fraction=0.5).gather)
    np.testing.assert_allclose(half(state, batch, 1.0).weight, [0.2, 1.0, 0.2], rtol=1e-6)
    np.testing.assert_allclose(half(state, batch, 0.0).weight, [1.0, 1.0, 1.0])
    # `sample` weighs the rows `sample_rows` draws.
    key = jax.random.key(3)
    np.testing.assert_allclose(
        jax.jit(replay.sample)(state, key, 0.7).weight,
        gather(state, jax.jit(replay.sample_rows)(state, key), 0.7).weight,
    )


def test_set_priorities_adds_the_demo_or_agent_epsilon():
    replay, state = _tiny_filled(batch_size=2, priority_exponent=0.5, priority_eps_agent=0.01)
    set_priorities = jax.jit(replay.set_priorities)
    state = set_priorities(state, jnp.asarray([0, 4]), jnp.asarray([0.44, 0.44]))
    p = _priorities(replay, state)
    np.testing.assert_allclose(p[[0, 4]], [np.sqrt(0.44 + 1.0), np.sqrt(0.44 + 0.01)], rtol=1e-6)
    np.testing.assert_allclose(state.max_priority, 1.2, rtol=1e-6)
    # A repeated row takes its last value (the max follows the values written); the sums stay whole.
    state = set_priorities(state, jnp.asarray([5, 5, 6, 5]), jnp.asarray([3.0, 2.0, 0.0, 1.0]))
    p = _priorities(replay, state)
    np.testing.assert_allclose(p[5], np.sqrt(1.01), rtol=1e-6)
    np.testing.assert_allclose(state.max_priority, 1.2, rtol=1e-6)
    np.testing.assert_allclose(sum_tree.total(state.demo_tree), p[:4].sum(), rtol=1e-6)
    np.testing.assert_allclose(sum_tree.total(state.agent_tree), p[4:].sum(), rtol=1e-6)
    # Rows that start no transition (a demo's last step, the newest agent step) keep priority 0.
    state = set_priorities(state, jnp.asarray([3, 9]), jnp.asarray([100.0, 100.0]))
    assert (_priorities(replay, state)[[3, 9]] == 0).all()
    np.testing.assert_allclose(state.max_priority, 1.2, rtol=1e-6)


def test_uniform_replay_is_unchanged_by_priorities():
    spec = EnvSpec("fake", (1,), "int32", None, 4)
    replay = make_replay(ReplayConfig(capacity=6, batch_size=3), spec, num_envs=1)
    state = replay.init()
    assert state.demo_tree.shape == state.agent_tree.shape == (2,)
    add, steps = jax.jit(replay.add), _episode(6)
    for t in range(6):
        state = add(state, _one(steps, t))
    assert replay.set_priorities(state, jnp.arange(3), jnp.ones(3)) is state
    weight = jax.jit(replay.sample)(state, jax.random.key(0), 0.5).weight
    np.testing.assert_array_equal(weight, np.ones(3))


def test_transitions_get_the_max_priority_when_complete():
    replay = _tiny(stack=2, capacity=8, batch_size=1, n_step=2, priority_exponent=1.0, priority_eps_agent=1.0)
    steps = _episode(40, last_at=(4, 11, 12, 20, 27))
    add, set_priorities = jax.jit(replay.add), jax.jit(replay.set_priorities)
    is_valid = jax.jit(replay.is_valid)
    state = replay.init()
    expected = np.zeros(8, np.float32)
    largest = 7.0
    rng = np.random.default_rng(0)
    for t in range(40):  # the stream wraps four times
        was_valid = np.asarray(is_valid(state, jnp.arange(8)))
        state = add(state, _one(steps, t))
        valid = np.asarray(is_valid(state, jnp.arange(8)))
        expected = np.where(valid, np.where(was_valid, expected, float(state.max_priority)), 0.0)
        np.testing.assert_array_equal(_priorities(replay, state), expected, err_msg=f"after step {t}")
        if t == 1:  # row 0 waits for step 2: a priority set now is ignored
            state = set_priorities(state, jnp.asarray([0]), jnp.asarray([6.0]))
            np.testing.assert_array_equal(_priorities(replay, state), 0.0)
        if t == 2:  # row 0 completed with the initial max 1; a TD error of 6 raises the max to 7
            np.testing.assert_array_equal(expected, [1, 0, 0, 0, 0, 0, 0, 0])
            state = set_priorities(state, jnp.asarray([0]), jnp.asarray([6.0]))
            expected[0] = 7.0
            assert float(state.max_priority) == 7.0
        if t == 4:  # the episode ended at step 4: rows 2 and 3 completed with it, row 4 starts nothing
            np.testing.assert_array_equal(expected, [7, 7, 7, 7, 0, 0, 0, 0])
        if t > 4 and t % 3 == 0:
            rows = rng.choice(np.flatnonzero(valid), 3)  # repeats included
            td = rng.uniform(0, 8, 3).astype(np.float32)
            state = set_priorities(state, jnp.asarray(rows), jnp.asarray(td))
            written = dict(zip(rows.tolist(), (td + 1.0).tolist(), strict=True))  # the last write wins
            expected[list(written)] = list(written.values())
            largest = max(largest, *written.values())
            np.testing.assert_allclose(_priorities(replay, state), expected, rtol=1e-6)
            np.testing.assert_allclose(state.max_priority, largest, rtol=1e-6)
            expected = _priorities(replay, state)  # go on from the float32 values


def test_new_transitions_of_every_stream_get_the_max_priority(filled):
    replay, reference, state = filled
    p = _priorities(replay, state)
    valid = _valid_rows(replay, reference)
    np.testing.assert_array_equal(np.flatnonzero(p), valid)  # exactly the transitions hold priority
    np.testing.assert_array_equal(p[valid], 1.0)


def test_never_returns_invalid_rows_under_jit_with_donation(filled):
    replay, reference, state = filled
    replay = _with(replay, batch_size=16, demo_fraction=0.4)
    rows = jnp.arange(replay.config.demo_capacity + replay.config.capacity)
    state = replay.set_priorities(state, rows, jnp.full(rows.shape, 1e6))  # invalid rows are ignored
    valid = set(_valid_rows(replay, reference))
    keys = jax.random.split(jax.random.key(0), 50)
    sampled = jax.jit(jax.vmap(replay.sample_rows, in_axes=(None, 0)))(state, keys)
    assert set(np.asarray(sampled).ravel()) <= valid

    @functools.partial(jax.jit, donate_argnums=0)
    def learn_and_act(state, step, key):
        key_rows, key_td = jax.random.split(key)
        rows = replay.sample_rows(state, key_rows)
        batch = replay.gather(state, rows, 0.4)
        valid = replay.is_valid(state, rows)
        state = replay.set_priorities(state, rows, 10 * jax.random.exponential(key_td, rows.shape))
        return replay.add(state, step), valid, batch.weight

    state = jax.tree.map(jnp.copy, state)  # donated below: leave the shared state's buffers alone
    rng, ids = np.random.default_rng(5), collections.Counter({"next": 10_000})
    games = [FakeGame(rng, STACK, 0.3, ids) for _ in range(NUM_ENVS)]
    for key in jax.random.split(jax.random.key(1), 40):
        frames, steps = zip(*(g.step() for g in games), strict=True)
        state, valid, weight = learn_and_act(state, _as_step(list(frames), list(steps)), key)
        assert bool(valid.all())
        assert float(weight.max()) == 1.0 and float(weight.min()) > 0.0


def test_prioritized_state_checkpoints(filled, tmp_path):
    from imitax.train.checkpoints import Checkpointer

    replay, _, state = filled
    rows = jnp.arange(replay.config.demo_capacity + replay.config.capacity)
    state = replay.set_priorities(state, rows, jnp.linspace(0.0, 3.0, rows.shape[0]))
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    checkpointer.save(1, state)
    restored = checkpointer.restore(jax.tree.map(jnp.zeros_like, state))
    jax.tree.map(np.testing.assert_array_equal, restored, state)


def test_priorities_cost_about_8_bytes_a_transition_at_nature_scale():
    spec = EnvSpec("Pong", (4, 84, 84), "uint8", 4, 6)
    uniform = jax.eval_shape(make_replay(ReplayConfig(capacity=1_000_000), spec, num_envs=8).init)
    config = ReplayConfig(capacity=1_000_000, demo_capacity=50_000, prioritized=True)
    shapes = jax.eval_shape(make_replay(config, spec, num_envs=8).init)
    trees = state_nbytes(shapes) - state_nbytes(uniform) - 50_000 * (84 * 84 + 15)
    assert trees / 1_050_000 <= 9  # float32 leaves and nodes, padded to powers of two
    assert shapes.agent_tree.dtype == jnp.float32


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(priority_exponent=-0.5), "priority_exponent"),
        (dict(priority_exponent=float("nan")), "priority_exponent"),
        (dict(priority_eps_agent=0.0), "priority_eps_agent must be"),
        (dict(priority_eps_demo=-1.0), "priority_eps_demo must be"),
    ],
)
def test_bad_priority_settings_fail_when_built(kwargs, message):
    spec = EnvSpec("fake", (4, 84, 84), "uint8", 4, 6)
    with pytest.raises(ValueError, match=message):
        make_replay(ReplayConfig(capacity=800, prioritized=True, **kwargs), spec, num_envs=8)
