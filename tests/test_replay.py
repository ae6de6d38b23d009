"""The shared replay against a naive reference, on random episode streams and on real envpool data."""

from __future__ import annotations

import collections

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from imitax.envs import EnvSpec, make_vec_env
from imitax.replay import ReplayConfig, Step, make_replay, state_nbytes
from tests.reference_replay import NaiveReplay, NaiveStep


class FakeGame:
    """Emits steps the way envpool does: a reset repeats the first frame over the stack; a lost life
    ends a learning episode but the stack carries on; frames are unique ids so any mix-up shows."""

    def __init__(self, rng: np.random.Generator, stack: int | None, p_end: float, ids: collections.Counter):
        self.rng, self.stack, self.p_end, self.ids = rng, stack, p_end, ids
        self.frames: collections.deque = collections.deque(maxlen=stack or 1)
        self.pending = "game"  # what the next step starts: "game", "life" or nothing

    def _frame(self) -> np.ndarray:
        self.ids["next"] += 1
        return np.array([self.ids["next"]], np.int32)

    def step(self) -> tuple[np.ndarray, NaiveStep]:
        frame = self._frame()
        first = self.pending == "game"
        if first:
            self.frames.extend([frame] * self.frames.maxlen)
        else:
            self.frames.append(frame)
        reward = 0.0 if self.pending else float(self.rng.integers(-3, 4))
        end = (
            None
            if self.pending
            else self.rng.choice(
                ["", "terminal", "truncated", "life"], p=[1 - self.p_end, *[self.p_end / 3] * 3]
            )
        )
        self.pending = {"terminal": "game", "truncated": "game", "life": "life"}.get(end or "")
        obs = np.stack(self.frames) if self.stack else frame
        step = NaiveStep(
            obs=obs,
            action=int(self.rng.integers(0, 4)),
            label=int(self.rng.integers(0, 4)),
            reward=reward,
            terminal=end in ("terminal", "life"),
            first=first,
            last=bool(end),
        )
        return frame, step


def _as_step(frames: list[np.ndarray], steps: list[NaiveStep]) -> Step:
    return Step(
        frame=jnp.asarray(np.stack(frames)),
        action=jnp.asarray([s.action for s in steps]),
        label=jnp.asarray([s.label for s in steps]),
        reward=jnp.asarray([s.reward for s in steps], jnp.float32),
        terminal=jnp.asarray([s.terminal for s in steps]),
        first=jnp.asarray([s.first for s in steps]),
        last=jnp.asarray([s.last for s in steps]),
    )


def _fill(
    config: ReplayConfig,
    stack: int | None,
    num_envs: int,
    agent_steps: int,
    demo_episodes: int,
    p_end: float,
    seed: int,
):
    spec = EnvSpec(
        name="fake",
        obs_shape=(stack, 1) if stack else (1,),
        obs_dtype="int32",
        frame_stack=stack,
        num_actions=4,
    )
    replay = make_replay(config, spec, num_envs)
    reference = NaiveReplay(replay.stream_length, stack or 1, config.n_step, config.discount)
    rng = np.random.default_rng(seed)
    ids: collections.Counter = collections.Counter()
    state = replay.init()
    demo = FakeGame(rng, stack, p_end, ids)
    for _ in range(demo_episodes):
        frames, steps = [], []
        while True:
            frame, step = demo.step()
            frames.append(frame)
            steps.append(step)
            if step.last and demo.pending == "game":
                break
        room = config.demo_capacity - len(reference.streams.get("demo", []))
        if len(steps) > room:
            break
        for step in steps:
            reference.add("demo", step)
        state = replay.add_demos(state, _as_step(frames, steps))
    games = [FakeGame(rng, stack, p_end, ids) for _ in range(num_envs)]
    add = jax.jit(replay.add)
    for _ in range(agent_steps):
        frames, steps = zip(*(g.step() for g in games), strict=True)
        for e, step in enumerate(steps):
            reference.add(f"env{e}", step)
        state = add(state, _as_step(list(frames), list(steps)))
    return replay, reference, state


def _expected_rows(replay, reference):
    """Map each replay row to the reference's (stream, step index)."""
    where = {}
    for j in range(len(reference.streams.get("demo", []))):
        where[j] = ("demo", j, None)
    length, demo_rows = replay.stream_length, replay.config.demo_capacity
    for e in range(replay.num_envs):
        for j in reference.kept(f"env{e}", length):
            where[demo_rows + e * length + j % length] = (f"env{e}", j, length)
    return where


def _check_against_reference(replay, reference, state):
    rows = np.arange(replay.config.demo_capacity + replay.config.capacity)
    valid = np.asarray(jax.jit(replay.is_valid)(state, jnp.asarray(rows)))
    where = _expected_rows(replay, reference)
    expected = {row: reference.transition(stream, j, cap) for row, (stream, j, cap) in where.items()}
    expected = {row: t for row, t in expected.items() if t is not None}
    assert set(rows[valid]) == set(expected)
    if not expected:
        return
    chosen = np.array(sorted(expected))
    got = jax.jit(replay.gather)(state, jnp.asarray(chosen))
    for i, row in enumerate(chosen):
        want = expected[row]
        for field, value in want.items():
            np.testing.assert_allclose(
                np.asarray(getattr(got, field)[i]),
                value,
                rtol=1e-6,
                atol=1e-5,
                err_msg=f"{field} at row {row}",
            )
        assert bool(got.is_demo[i]) == (row < replay.config.demo_capacity)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stack=st.sampled_from([None, 1, 2, 4]),
    num_envs=st.integers(1, 3),
    stream_length=st.integers(9, 24),
    n_step=st.integers(1, 4),
    agent_steps=st.integers(0, 60),
    demo_episodes=st.integers(0, 4),
    p_end=st.sampled_from([0.05, 0.2, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_matches_naive_reference(
    stack, num_envs, stream_length, n_step, agent_steps, demo_episodes, p_end, seed
):
    config = ReplayConfig(
        capacity=num_envs * stream_length,
        demo_capacity=40 if demo_episodes else 0,
        batch_size=1,
        n_step=n_step,
        discount=0.9,
    )
    replay, reference, state = _fill(config, stack, num_envs, agent_steps, demo_episodes, p_end, seed)
    _check_against_reference(replay, reference, state)


def test_samples_are_valid_and_uniform():
    config = ReplayConfig(capacity=3 * 16, demo_capacity=30, batch_size=32, n_step=3, discount=0.9)
    replay, reference, state = _fill(config, 4, 3, 40, 3, 0.2, seed=7)
    assert bool(replay.can_sample(state))
    valid_rows = set(_expected_rows(replay, reference))
    valid_rows = {r for r in valid_rows if reference.transition(*_expected_rows(replay, reference)[r])}
    sample_rows = jax.jit(replay.sample_rows)
    counts = collections.Counter()
    key = jax.random.key(0)
    for _ in range(320):
        key, sub = jax.random.split(key)
        counts.update(np.asarray(sample_rows(state, sub)).tolist())
    assert set(counts) <= valid_rows
    assert set(counts) == valid_rows  # 10,240 draws over a few dozen rows reach every one
    observed = np.array([counts[r] for r in sorted(valid_rows)])
    expected = observed.sum() / len(valid_rows)
    chi2 = ((observed - expected) ** 2 / expected).sum()
    # 99.9th percentile of chi-square with k-1 degrees of freedom, approximated (Wilson-Hilferty).
    k = len(valid_rows) - 1
    assert chi2 < k * (1 - 2 / (9 * k) + 3.09 * np.sqrt(2 / (9 * k))) ** 3


def test_demo_fraction_controls_the_mix():
    config = ReplayConfig(capacity=2 * 40, demo_capacity=60, batch_size=100, n_step=1, demo_fraction=0.25)
    replay, _, state = _fill(config, 2, 2, 40, 4, 0.1, seed=3)
    sample = jax.jit(replay.sample)
    is_demo = [sample(state, key).is_demo for key in jax.random.split(jax.random.key(1), 20)]
    assert abs(float(jnp.concatenate(is_demo).mean()) - 0.25) < 0.04
    only_demo = make_replay(
        ReplayConfig(**{**config.__dict__, "demo_fraction": 1.0}),
        EnvSpec("fake", (2, 1), "int32", 2, 4),
        2,
    )
    assert bool(jax.jit(only_demo.sample)(state, jax.random.key(2)).is_demo.all())


def test_agent_data_never_overwrites_demonstrations():
    config = ReplayConfig(capacity=2 * 10, demo_capacity=30, batch_size=1, n_step=2, discount=0.9)
    replay, reference, state = _fill(config, 2, 2, 200, 3, 0.2, seed=11)  # agent streams wrap 20 times
    _check_against_reference(replay, reference, state)
    assert int(state.demo_size) == len(reference.streams["demo"])


def test_same_key_same_batch_and_keys_differ():
    config = ReplayConfig(capacity=2 * 30, batch_size=16, n_step=2)
    replay, _, state = _fill(config, 4, 2, 30, 0, 0.1, seed=5)
    sample = jax.jit(replay.sample_rows)
    a, b = sample(state, jax.random.key(0)), sample(state, jax.random.key(0))
    c = sample(state, jax.random.key(1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(capacity=8 * 4), "too few for a frame stack"),
        (dict(capacity=100), "multiple of num_envs"),
        (dict(capacity=800, batch_size=1000), "larger than the replay"),
        (dict(capacity=800, demo_fraction=0.5), "needs demo_capacity"),
        (dict(capacity=800, n_step=0), "n_step must be >= 1"),
        (dict(capacity=800, discount=1.5), "discount must be in"),
    ],
)
def test_bad_settings_fail_when_built(kwargs, message):
    spec = EnvSpec("fake", (4, 84, 84), "uint8", 4, 6)
    with pytest.raises(ValueError, match=message):
        make_replay(ReplayConfig(**kwargs), spec, num_envs=8)


def test_can_sample_waits_for_whole_n_step_windows():
    config = ReplayConfig(capacity=1 * 50, batch_size=5, n_step=4)
    replay, _, state = _fill(config, 2, 1, 8, 0, 0.0, seed=0)  # 8 steps, one unfinished episode
    assert not bool(replay.can_sample(state))  # 8 - 4 = 4 complete windows < 5
    replay, _, state = _fill(config, 2, 1, 9, 0, 0.0, seed=0)
    assert bool(replay.can_sample(state))


def test_state_is_lean_at_nature_scale():
    spec = EnvSpec("Pong", (4, 84, 84), "uint8", 4, 6)
    replay = make_replay(ReplayConfig(capacity=1_000_000), spec, num_envs=8)
    shapes = jax.eval_shape(replay.init)
    assert state_nbytes(shapes) / 1_000_000 <= 7_500


@pytest.mark.timeout(300)
def test_rebuilt_stacks_equal_what_envpool_showed():
    """Breakout in training mode: resets, lost lives (the stack carries on) and reward clipping."""
    env = make_vec_env("Breakout", 4, preset="nature", training=True, seed=3)
    config = ReplayConfig(capacity=4 * 200, batch_size=1, n_step=3, discount=0.99)
    replay = make_replay(config, env.spec, env.num_envs)
    state = replay.init()
    add = jax.jit(replay.add)
    rng = np.random.default_rng(0)
    seen = []
    step = env.reset()
    for _ in range(260):  # wraps each 200-step stream
        action = rng.integers(0, env.spec.num_actions, env.num_envs)
        seen.append(step.obs)
        state = add(
            state,
            Step(step.obs[:, -1], action, action, step.reward, step.terminated, step.first, step.last),
        )
        step = env.step(action)
    seen = np.stack(seen)  # (T, envs, 4, 84, 84)
    rows = jnp.arange(config.capacity)
    valid = np.asarray(replay.is_valid(state, rows))
    assert valid.sum() > 0.8 * config.capacity
    batch = jax.jit(replay.gather)(state, rows[valid])
    for i, row in enumerate(np.flatnonzero(valid)):
        e, position = divmod(int(row), replay.stream_length)
        t = position + 200 if position < 260 - 200 else position  # global step of that row
        np.testing.assert_array_equal(batch.obs_tm1[i], seen[t, e])
        np.testing.assert_array_equal(batch.obs_t[i], seen[t + 1, e])
    env.close()


def test_a_resume_cut_ends_every_stream_so_nothing_bootstraps_into_the_next_game():
    spec = EnvSpec(name="fake", obs_shape=(2, 1), obs_dtype="int32", frame_stack=2, num_actions=4)
    replay = make_replay(ReplayConfig(capacity=2 * 10, batch_size=4, n_step=3), spec, 2)
    state = replay.init()

    def step(t: int, first: bool) -> Step:
        return Step(
            frame=jnp.asarray([[t], [100 + t]], jnp.int32),
            action=jnp.zeros(2, jnp.int32),
            label=jnp.zeros(2, jnp.int32),
            reward=jnp.ones(2, jnp.float32),
            terminal=jnp.zeros(2, bool),
            first=jnp.full(2, first),
            last=jnp.zeros(2, bool),
        )

    for t in range(5):  # one game running in each stream when the run is stopped
        state = replay.add(state, step(t, t == 0))
    state = replay.cut_streams(state)  # resumed: the environments start new games
    for t in range(5, 9):
        state = replay.add(state, step(t, t == 5))
    rows = jnp.arange(10)  # the first stream
    valid = np.asarray(replay.is_valid(state, rows))
    assert not valid[4]  # the cut step starts no transition
    batch = replay.gather(state, rows[valid])
    starts = np.asarray(batch.obs_tm1[:, -1, 0])
    ends = np.asarray(batch.nstep_obs_t[:, -1, 0])
    assert ((starts < 5) == (ends < 5)).all(), (starts, ends)  # no window crosses the cut
    np.testing.assert_allclose(batch.nstep_discount_t[starts == 2], 0.99**2)  # truncated, still bootstraps
