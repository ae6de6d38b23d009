"""The shared replay: frames stored once, stacks and n-step returns rebuilt at sample time.

Layout. The state holds flat arrays of rows. Rows [0, demo_capacity) are the demonstration partition,
one stream filled episode after episode and never overwritten by agent data. The remaining rows hold one
circular stream per parallel environment, each `capacity // num_envs` long, all written in lockstep.

Stacks. The stack of step j is the newest frames of steps j-S+1..j. A stack never reaches back past the
start of a game: frames before a `first` step are that step's frame repeated, which is exactly what the
environments show at a reset. (With episodic life a lost life ends a learning episode but not the game,
and envpool's stacks, like ours, carry on across it.) After a stream wraps, its S-1 oldest steps have
lost their history and are not sampled.

Sampling is uniform over valid transitions: a step j is valid when it is not `last`, and its n-step
window (which ends early at the episode's last step) lies within what is written. Candidates are drawn
uniformly and invalid ones redrawn until none remain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from imitax.types import EnvSpec, Step, Transition

_MAX_REDRAWS = 64  # rounds of redrawing invalid candidates; each round fails with prob <= 1/2.


@dataclass(frozen=True)
class ReplayConfig:
    """Settings of the shared replay."""

    capacity: int = 1_000_000
    """Agent steps kept, split evenly across the parallel environments; the oldest are overwritten."""
    demo_capacity: int = 0
    """Room for demonstration steps, which agent data never overwrites (0: no demonstrations)."""
    batch_size: int = 32
    """Transitions per sample."""
    n_step: int = 1
    """Horizon of the n-step returns computed at sample time."""
    discount: float = 0.99
    """Per-step discount gamma."""
    demo_fraction: float | None = None
    """Share of each batch drawn from demonstrations; None draws in proportion to what each holds."""


class ReplayState(NamedTuple):
    """Pytree state of the replay. Donate it to the `jit` that updates it so writes happen in place."""

    frames: jax.Array  # (rows, *frame_shape)
    actions: jax.Array  # (rows,) int32
    labels: jax.Array  # (rows,) int32
    rewards: jax.Array  # (rows,) float32
    first: jax.Array  # (rows,) bool
    last: jax.Array  # (rows,) bool
    terminal: jax.Array  # (rows,) bool
    agent_added: jax.Array  # () int32, steps ever added to each agent stream
    demo_size: jax.Array  # () int32, demonstration steps stored


class Replay(NamedTuple):
    """The replay's pure functions. Build with `make_replay`."""

    init: Callable[[], ReplayState]
    add: Callable[[ReplayState, Step], ReplayState]
    add_demos: Callable[[ReplayState, Step], ReplayState]
    can_sample: Callable[[ReplayState], jax.Array]
    sample: Callable[[ReplayState, jax.Array], Transition]
    sample_rows: Callable[[ReplayState, jax.Array], jax.Array]
    gather: Callable[[ReplayState, jax.Array], Transition]
    is_valid: Callable[[ReplayState, jax.Array], jax.Array]
    config: ReplayConfig
    num_envs: int

    @property
    def stream_length(self) -> int:
        """Rows of each agent stream."""
        return self.config.capacity // self.num_envs


class _Where(NamedTuple):
    """Where sampled rows sit: their stream, and their place in it."""

    base: jax.Array  # first row of the stream
    length: jax.Array  # rows in the stream
    oldest: jax.Array  # position of the stream's oldest step
    offset: jax.Array  # steps from the oldest to this one
    count: jax.Array  # steps the stream holds
    is_demo: jax.Array


def _check_config(config: ReplayConfig, num_envs: int, frame_stack: int) -> None:
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    if config.n_step < 1:
        raise ValueError(f"n_step must be >= 1, got {config.n_step}")
    if not 0.0 <= config.discount <= 1.0:
        raise ValueError(f"discount must be in [0, 1], got {config.discount}")
    if config.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {config.batch_size}")
    if config.capacity < 0 or config.demo_capacity < 0:
        raise ValueError("capacity and demo_capacity must be >= 0")
    if config.capacity == 0 and config.demo_capacity == 0:
        raise ValueError("the replay needs capacity or demo_capacity > 0")
    if config.capacity % num_envs:
        raise ValueError(
            f"capacity {config.capacity} must be a multiple of num_envs {num_envs} "
            f"(each environment gets its own stream); try {config.capacity // num_envs * num_envs}."
        )
    needed = frame_stack + config.n_step  # a wrapped stream loses S-1 steps and n at its head
    if config.capacity and config.capacity // num_envs <= needed:
        raise ValueError(
            f"capacity {config.capacity} leaves {config.capacity // num_envs} steps per environment, too "
            f"few for a frame stack of {frame_stack} and n_step {config.n_step}: give each environment "
            f"more than {needed} (capacity > {needed * num_envs})."
        )
    if config.batch_size > config.capacity + config.demo_capacity:
        raise ValueError(
            f"batch_size {config.batch_size} is larger than the replay "
            f"({config.capacity} agent + {config.demo_capacity} demonstration steps)."
        )
    fraction = config.demo_fraction
    if fraction is not None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"demo_fraction must be in [0, 1] or None, got {fraction}")
        if fraction > 0 and config.demo_capacity == 0:
            raise ValueError("demo_fraction > 0 needs demo_capacity > 0 to hold demonstrations")
        if fraction < 1 and config.capacity == 0:
            raise ValueError("demo_fraction < 1 needs capacity > 0 to hold agent data")


def make_replay(config: ReplayConfig, spec: EnvSpec, num_envs: int) -> Replay:
    """Builds the shared replay for `num_envs` parallel environments of `spec`.

    Raises:
      ValueError: the settings cannot work (capacity too small for the stack or n, a batch larger than
        the replay, a demo fraction with no partition to draw from); the message says how to fix them.
    """
    stack = spec.frame_stack or 1
    _check_config(config, num_envs, stack)
    frame_shape = spec.frame_shape
    frame_dtype = jnp.dtype(spec.obs_dtype)
    n, gamma, batch = config.n_step, config.discount, config.batch_size
    demo_rows = config.demo_capacity
    stream = config.capacity // num_envs
    rows_total = demo_rows + config.capacity

    def init() -> ReplayState:
        def flags() -> jax.Array:  # one buffer each: a shared one could not be donated
            return jnp.zeros(rows_total, bool)

        return ReplayState(
            frames=jnp.zeros((rows_total, *frame_shape), frame_dtype),
            actions=jnp.zeros(rows_total, jnp.int32),
            labels=jnp.zeros(rows_total, jnp.int32),
            rewards=jnp.zeros(rows_total, jnp.float32),
            first=flags(),
            last=flags(),
            terminal=flags(),
            agent_added=jnp.zeros((), jnp.int32),
            demo_size=jnp.zeros((), jnp.int32),
        )

    def _write(state: ReplayState, rows: jax.Array, step: Step) -> ReplayState:
        def put(array: jax.Array, values: jax.Array) -> jax.Array:
            return array.at[rows].set(values.astype(array.dtype), mode="drop")

        return state._replace(
            frames=put(state.frames, step.frame),
            actions=put(state.actions, step.action),
            labels=put(state.labels, step.label),
            rewards=put(state.rewards, step.reward),
            first=put(state.first, step.first),
            last=put(state.last, step.last),
            terminal=put(state.terminal, step.terminal),
        )

    def add(state: ReplayState, step: Step) -> ReplayState:
        """Appends one step of every environment; `step` fields have a leading axis of num_envs."""
        if step.frame.shape != (num_envs, *frame_shape):
            raise ValueError(
                f"add expects frames of shape {(num_envs, *frame_shape)}, got {step.frame.shape}"
            )
        position = state.agent_added % stream
        rows = demo_rows + jnp.arange(num_envs) * stream + position
        state = _write(state, rows, step)
        return state._replace(agent_added=state.agent_added + 1)

    def add_demos(state: ReplayState, steps: Step) -> ReplayState:
        """Appends consecutive demonstration steps (leading axis: time) after those already stored.

        Episodes should be whole: their last step flagged `last`. Steps past `demo_capacity` are dropped;
        check the room first (the loaders in `imitax.data` do, with a clear error).
        """
        if steps.frame.shape[1:] != frame_shape:
            raise ValueError(f"add_demos expects frames of shape (T, {frame_shape}), got {steps.frame.shape}")
        rows = state.demo_size + jnp.arange(steps.frame.shape[0])
        rows = jnp.where(rows < demo_rows, rows, rows_total)  # out of bounds: dropped by the scatter
        state = _write(state, rows, steps)
        added = jnp.minimum(state.demo_size + steps.frame.shape[0], demo_rows)
        return state._replace(demo_size=added.astype(jnp.int32))

    # -- where rows are ------------------------------------------------------------------------------

    def _agent_window(state: ReplayState) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(oldest position, steps held, steps skipped at the old end) of each agent stream."""
        added = state.agent_added
        wrapped = added > stream
        oldest = jnp.where(wrapped, added % stream, 0)
        count = jnp.minimum(added, stream)
        skip = jnp.where(wrapped, stack - 1, 0)
        return oldest, count, skip

    def _where(state: ReplayState, rows: jax.Array) -> _Where:
        oldest, count, _ = _agent_window(state)
        is_demo = rows < demo_rows
        agent_stream = jnp.maximum(rows - demo_rows, 0) // max(stream, 1)
        base = jnp.where(is_demo, 0, demo_rows + agent_stream * stream)
        length = jnp.where(is_demo, max(demo_rows, 1), max(stream, 1))
        oldest = jnp.where(is_demo, 0, oldest)
        count = jnp.where(is_demo, state.demo_size, count)
        offset = (rows - base - oldest) % length
        return _Where(base, length, oldest, offset, count, is_demo)

    def _row(w: _Where, offset: jax.Array) -> jax.Array:
        """Row of the step `offset` steps after the stream's oldest (offsets broadcast)."""
        base, length, oldest = (
            x[..., None] if offset.ndim > w.base.ndim else x for x in (w.base, w.length, w.oldest)
        )
        return base + (oldest + offset) % length

    def _episode_span(state: ReplayState, w: _Where) -> jax.Array:
        """m: steps to the n-step bootstrap, cut short at the episode's last step, (B,)."""
        ahead = w.offset[:, None] + jnp.arange(1, n + 1)[None, :]  # (B, n)
        is_last = state.last[_row(w, ahead)]
        return jnp.where(is_last.any(axis=1), jnp.argmax(is_last, axis=1) + 1, n)

    def is_valid(state: ReplayState, rows: jax.Array) -> jax.Array:
        """Whether a transition starts at each row (B,) -> (B,) bool."""
        w = _where(state, rows)
        skip = jnp.where(w.is_demo, 0, _agent_window(state)[2])
        span = _episode_span(state, w)
        return (w.offset >= skip) & (w.offset + span <= w.count - 1) & ~state.last[rows]

    def _stack(state: ReplayState, w: _Where, offset: jax.Array) -> jax.Array:
        """Observations ending at the steps `offset` after the oldest, (B, *obs_shape)."""
        if spec.frame_stack is None:
            return state.frames[_row(w, offset)]
        if stack == 1:
            return state.frames[_row(w, offset)][:, None]
        back = jnp.arange(stack - 1)[None, :]  # how far back a boundary may sit
        at_first = state.first[_row(w, offset[:, None] - back)]
        boundary = at_first | (offset[:, None] - back <= 0)  # a game's start, or the oldest step held
        nearest = jnp.where(boundary.any(axis=1), jnp.argmax(boundary, axis=1), stack - 1)  # (B,)
        reach = jnp.minimum(jnp.arange(stack - 1, -1, -1)[None, :], nearest[:, None])  # (B, S), oldest first
        return state.frames[_row(w, offset[:, None] - reach)]

    def gather(state: ReplayState, rows: jax.Array) -> Transition:
        """The transitions starting at `rows` (B,), which must be valid (see `is_valid`)."""
        w = _where(state, rows)
        row_1 = _row(w, w.offset + 1)
        obs_tm1 = _stack(state, w, w.offset)
        obs_t = _stack(state, w, w.offset + 1)
        reward_t = state.rewards[row_1]
        discount_t = gamma * (1.0 - state.terminal[row_1])
        if n == 1:
            nstep = (reward_t, discount_t, obs_t)
        else:
            span = _episode_span(state, w)
            k = jnp.arange(1, n + 1)[None, :]
            rewards = state.rewards[_row(w, w.offset[:, None] + k)]  # (B, n)
            powers = jnp.where(k <= span[:, None], gamma ** (k - 1.0), 0.0)
            end = _row(w, w.offset + span)
            nstep = (
                (powers * rewards).sum(axis=1),
                gamma**span * (1.0 - state.terminal[end]),
                _stack(state, w, w.offset + span),
            )
        return Transition(
            obs_tm1=obs_tm1,
            action_tm1=state.actions[rows],
            label_tm1=state.labels[rows],
            reward_t=reward_t,
            discount_t=discount_t.astype(jnp.float32),
            obs_t=obs_t,
            nstep_return_t=nstep[0].astype(jnp.float32),
            nstep_discount_t=nstep[1].astype(jnp.float32),
            nstep_obs_t=nstep[2],
            is_demo=w.is_demo,
            weight=jnp.ones(rows.shape, jnp.float32),
        )

    # -- sampling ------------------------------------------------------------------------------------

    def _candidates(state: ReplayState) -> tuple[jax.Array, jax.Array]:
        """Steps that may start a transition (before validity checks): (demo, agent)."""
        _, count, skip = _agent_window(state)
        agent = num_envs * jnp.maximum(count - 1 - skip, 0) if stream else jnp.zeros((), jnp.int32)
        demo = jnp.maximum(state.demo_size - 1, 0)
        return demo, agent

    def _demo_probability(state: ReplayState) -> jax.Array:
        if config.demo_fraction is not None:
            return jnp.asarray(config.demo_fraction, jnp.float32)
        demo, agent = _candidates(state)
        return demo / jnp.maximum(demo + agent, 1)

    def _draw(state: ReplayState, key: jax.Array) -> jax.Array:
        key_part, key_stream, key_offset = jax.random.split(key, 3)
        oldest, count, skip = _agent_window(state)
        from_demo = jax.random.uniform(key_part, (batch,)) < _demo_probability(state)
        u = jax.random.uniform(key_offset, (batch,))
        demo_offset = jnp.floor(u * jnp.maximum(state.demo_size - 1, 1)).astype(jnp.int32)
        agent_offset = skip + jnp.floor(u * jnp.maximum(count - 1 - skip, 1)).astype(jnp.int32)
        env = jax.random.randint(key_stream, (batch,), 0, num_envs)
        agent_row = demo_rows + env * stream + (oldest + agent_offset) % max(stream, 1)
        return jnp.where(from_demo, demo_offset, agent_row)

    def sample_rows(state: ReplayState, key: jax.Array) -> jax.Array:
        """Rows of `batch_size` transitions drawn uniformly among the valid ones (with replacement)."""

        def redraw(carry):
            rounds, key, rows, valid = carry
            key, sub = jax.random.split(key)
            rows = jnp.where(valid, rows, _draw(state, sub))
            return rounds + 1, key, rows, is_valid(state, rows)

        def pending(carry):
            rounds, _, _, valid = carry
            return (~valid.all()) & (rounds < _MAX_REDRAWS)

        key, sub = jax.random.split(key)
        rows = _draw(state, sub)
        carry = jax.lax.while_loop(pending, redraw, (0, key, rows, is_valid(state, rows)))
        return carry[2]

    def sample(state: ReplayState, key: jax.Array) -> Transition:
        """A batch of transitions drawn uniformly among the valid ones. Check `can_sample` first."""
        return gather(state, sample_rows(state, key))

    def can_sample(state: ReplayState) -> jax.Array:
        """Whether enough complete transitions are stored to draw a batch."""
        demo, _ = _candidates(state)
        _, count, skip = _agent_window(state)
        agent_sure = num_envs * jnp.maximum(count - skip - n, 0) if stream else 0
        fraction = config.demo_fraction
        if fraction is None:
            return demo + agent_sure >= batch
        if fraction == 1.0:
            return demo >= batch
        if fraction == 0.0:
            return agent_sure >= batch
        return (demo > 0) & (agent_sure > 0) & (demo + agent_sure >= batch)

    return Replay(
        init=init,
        add=add,
        add_demos=add_demos,
        can_sample=can_sample,
        sample=sample,
        sample_rows=sample_rows,
        gather=gather,
        is_valid=is_valid,
        config=config,
        num_envs=num_envs,
    )


def state_nbytes(state: ReplayState) -> int:
    """Bytes held by a replay state's arrays."""
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state))
