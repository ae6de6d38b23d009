"""The shared replay: frames stored once, stacks and n-step returns rebuilt at sample time.

Layout. The state holds flat arrays of rows. Rows [0, demo_capacity) are the demonstration partition,
one stream filled episode after episode and never overwritten by agent data. The remaining rows hold one
circular stream per parallel environment, each `capacity // num_envs` long, all written in lockstep.

Stacks. The stack of step j is the newest frames of steps j-S+1..j. A stack never reaches back past the
start of a game: frames before a `first` step are that step's frame repeated, which is exactly what the
environments show at a reset. (With episodic life a lost life ends a learning episode but not the game,
and envpool's stacks, like ours, carry on across it.) After a stream wraps, its S-1 oldest steps have
lost their history and are not sampled.

Sampling is over valid transitions: a step j is valid when it is not `last`, and its n-step window
(which ends early at the episode's last step) lies within what is written. Candidates are drawn and
invalid ones redrawn until none remain.

Uniform sampling (the default) draws candidates uniformly; prioritized sampling draws them in proportion
to their priorities (see `priorities`).

Code. Every function here is pure and takes the static `Layout` first (then the state); `make_replay`
binds the layout with `functools.partial` into `Replay`, so sizes stay Python values and only the state's
arrays are traced. Where rows sit is in `streams`, the prioritized parts in `priorities`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from imitax.replay import priorities, streams, sum_tree
from imitax.replay.layout import Layout, ReplayConfig, ReplayState, check_config
from imitax.types import EnvSpec, Step, Transition

__all__ = ["Layout", "Replay", "ReplayConfig", "ReplayState", "make_replay", "state_nbytes"]

# Rounds of redrawing invalid candidates; each round fails with prob <= 1/2 (uniform) or about 0
# (prioritized: invalid rows hold no priority).
_MAX_REDRAWS = 64
# The redraw loop's carry: (rounds done, key, rows, whether each row is valid).
_Redraws = tuple[jax.Array | int, jax.Array, jax.Array, jax.Array]


class Replay(NamedTuple):
    """The replay's pure functions. Build with `make_replay`."""

    init: Callable[[], ReplayState]
    add: Callable[[ReplayState, Step], ReplayState]
    add_demos: Callable[[ReplayState, Step], ReplayState]
    cut_streams: Callable[[ReplayState], ReplayState]
    can_sample: Callable[[ReplayState], jax.Array]
    sample: Callable[..., Transition]  # (state, key, importance_exponent=1.0)
    sample_rows: Callable[[ReplayState, jax.Array], jax.Array]
    gather: Callable[..., Transition]  # (state, rows, importance_exponent=1.0)
    is_valid: Callable[[ReplayState, jax.Array], jax.Array]
    set_priorities: Callable[[ReplayState, jax.Array, jax.Array], ReplayState]
    config: ReplayConfig
    num_envs: int

    @property
    def stream_length(self) -> int:
        """Rows of each agent stream."""
        return self.config.capacity // self.num_envs


def make_replay(config: ReplayConfig, spec: EnvSpec, num_envs: int) -> Replay:
    """Builds the shared replay for `num_envs` parallel environments of `spec`.

    Raises:
      ValueError: the settings cannot work (capacity too small for the stack or n, a batch larger than
        the replay, a demo fraction with no partition to draw from); the message says how to fix them.
    """
    check_config(config, num_envs, spec.frame_stack or 1)
    layout = Layout.of(config, spec, num_envs)
    bind = functools.partial
    return Replay(
        init=bind(init, layout),
        add=bind(add, layout),
        # The loaders call it outside any jit: one compiled call, not dozens of eager ones. Its shape
        # check runs as it traces, so a wrong shape still raises its ValueError.
        add_demos=jax.jit(bind(add_demos, layout)),
        cut_streams=bind(cut_streams, layout),
        can_sample=bind(can_sample, layout),
        sample=bind(sample, layout),
        sample_rows=bind(sample_rows, layout),
        gather=bind(gather, layout),
        is_valid=bind(streams.is_valid, layout),
        set_priorities=bind(priorities.set_priorities, layout),
        config=config,
        num_envs=num_envs,
    )


def state_nbytes(state: ReplayState) -> int:
    """Bytes held by a replay state's arrays."""
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state))


# -- writing -----------------------------------------------------------------------------------------


def init(layout: Layout) -> ReplayState:
    """An empty replay: every row zero, no steps added, all priorities 0 and the max priority 1."""
    rows_total, prioritized = layout.rows_total, layout.config.prioritized

    def flags() -> jax.Array:  # one buffer each: a shared one could not be donated
        return jnp.zeros(rows_total, bool)

    return ReplayState(
        frames=jnp.zeros((rows_total, *layout.frame_shape), layout.frame_dtype),
        actions=jnp.zeros(rows_total, jnp.int32),
        labels=jnp.zeros(rows_total, jnp.int32),
        rewards=jnp.zeros(rows_total, jnp.float32),
        first=flags(),
        last=flags(),
        terminal=flags(),
        agent_added=jnp.zeros((), jnp.int32),
        demo_size=jnp.zeros((), jnp.int32),
        demo_tree=sum_tree.init(layout.demo_rows if prioritized else 0),
        agent_tree=sum_tree.init(layout.config.capacity if prioritized else 0),
        max_priority=jnp.ones((), jnp.float32),
    )


def _write(state: ReplayState, rows: jax.Array, step: Step) -> ReplayState:
    """Writes the fields of `step` at `rows`; rows out of bounds are dropped."""

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


def add(layout: Layout, state: ReplayState, step: Step) -> ReplayState:
    """Appends one step of every environment; `step` fields have a leading axis of num_envs."""
    num_envs, stream, demo_rows = layout.num_envs, layout.stream, layout.demo_rows
    if step.frame.shape != (num_envs, *layout.frame_shape):
        raise ValueError(
            f"add expects frames of shape {(num_envs, *layout.frame_shape)}, got {step.frame.shape}"
        )
    position = state.agent_added % stream
    rows = demo_rows + jnp.arange(num_envs) * stream + position
    state = _write(state, rows, step)
    state = state._replace(agent_added=state.agent_added + 1)
    if layout.config.prioritized:
        # The n steps before, which may have completed their windows; the step written; and the S-1
        # after it, the oldest of a wrapped stream, which have lost their history.
        ahead = (position + jnp.arange(-layout.config.n_step, layout.stack)) % stream
        nearby = demo_rows + jnp.arange(num_envs)[:, None] * stream + ahead[None, :]
        state = priorities.refresh(layout, state, nearby.ravel(), demo=False)
    return state


def cut_streams(layout: Layout, state: ReplayState) -> ReplayState:
    """Ends the episode of every agent stream at its newest step (truncated: its value still counts),
    as when the environments restart with new games after a resume, so that no transition bootstraps
    across the cut into another game."""
    stream = layout.stream
    if not stream:
        return state
    newest = layout.demo_rows + jnp.arange(layout.num_envs) * stream + (state.agent_added - 1) % stream
    written = state.agent_added > 0
    return state._replace(last=state.last.at[newest].set(state.last[newest] | written))


def add_demos(layout: Layout, state: ReplayState, steps: Step) -> ReplayState:
    """Appends consecutive demonstration steps (leading axis: time) after those already stored.

    Episodes should be whole: their last step flagged `last`. Steps past `demo_capacity` are dropped;
    check the room first (the loaders in `imitax.data` do, with a clear error).
    """
    demo_rows, n = layout.demo_rows, layout.config.n_step
    if steps.frame.shape[1:] != layout.frame_shape:
        raise ValueError(
            f"add_demos expects frames of shape (T, {layout.frame_shape}), got {steps.frame.shape}"
        )
    length = steps.frame.shape[0]
    rows = state.demo_size + jnp.arange(length)
    rows = jnp.where(rows < demo_rows, rows, layout.rows_total)  # out of bounds: dropped by the scatter
    nearby = state.demo_size + jnp.arange(-n, length)  # the new steps and n before, which they may complete
    state = _write(state, rows, steps)
    added = jnp.minimum(state.demo_size + length, demo_rows)
    state = state._replace(demo_size=added.astype(jnp.int32))
    if layout.config.prioritized:
        state = priorities.refresh(layout, state, nearby, demo=True, keep=nearby < demo_rows)
    return state


# -- reading -----------------------------------------------------------------------------------------


def _nstep(layout: Layout, state: ReplayState, w: streams.Where) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(return, discount, observation) of the n-step bootstrap of each row, cut at the episode's end."""
    n, gamma = layout.config.n_step, layout.config.discount
    span = streams.episode_span(layout, state, w)
    k = jnp.arange(1, n + 1)[None, :]
    rewards = state.rewards[streams.row(w, w.offset[:, None] + k)]  # (B, n)
    powers = jnp.where(k <= span[:, None], gamma ** (k - 1.0), 0.0)
    end = streams.row(w, w.offset + span)
    return (
        (powers * rewards).sum(axis=1),
        gamma**span * (1.0 - state.terminal[end]),
        streams.observations(layout, state, w, w.offset + span),
    )


def gather(
    layout: Layout, state: ReplayState, rows: jax.Array, importance_exponent: jax.Array | float = 1.0
) -> Transition:
    """The transitions starting at `rows` (B,), which must be valid (see `is_valid`).

    Their `weight` is 1 under uniform sampling. Under prioritized sampling it is the importance weight
    w_i = (N P(i))^-beta normalised by the batch's largest, i.e. (min_j P(j) / P(i))^beta, where P(i)
    is the probability that one draw returns row i (its partition's share times p_i over the
    partition's total priority) and beta is `importance_exponent` (annealed by the caller). N, the
    number of transitions, cancels in the normalisation.
    """
    w = streams.where(layout, state, rows)
    row_1 = streams.row(w, w.offset + 1)
    obs_tm1 = streams.observations(layout, state, w, w.offset)
    obs_t = streams.observations(layout, state, w, w.offset + 1)
    reward_t = state.rewards[row_1]
    discount_t = layout.config.discount * (1.0 - state.terminal[row_1])
    # With n = 1 the n-step bootstrap is the one-step one: reuse it rather than trace it twice.
    nstep = (reward_t, discount_t, obs_t) if layout.config.n_step == 1 else _nstep(layout, state, w)
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
        weight=_weights(layout, state, rows, importance_exponent),
    )


def _weights(layout: Layout, state: ReplayState, rows: jax.Array, beta: jax.Array | float) -> jax.Array:
    """Importance weights of `rows` (B,) float32: 1 unless the replay is prioritized."""
    if layout.config.prioritized:
        return priorities.importance_weights(layout, state, rows, beta).astype(jnp.float32)
    return jnp.ones(rows.shape, jnp.float32)


# -- sampling ----------------------------------------------------------------------------------------


def _draw_uniform(layout: Layout, state: ReplayState, key: jax.Array) -> jax.Array:
    """Rows of `batch_size` candidates (B,), uniform within the partition that a first coin picks."""
    batch, stream = layout.config.batch_size, layout.stream
    key_part, key_stream, key_offset = jax.random.split(key, 3)
    oldest, count, skip = streams.agent_window(layout, state)
    from_demo = jax.random.uniform(key_part, (batch,)) < streams.demo_probability(layout, state)
    u = jax.random.uniform(key_offset, (batch,))
    demo_offset = jnp.floor(u * jnp.maximum(state.demo_size - 1, 1)).astype(jnp.int32)
    agent_offset = skip + jnp.floor(u * jnp.maximum(count - 1 - skip, 1)).astype(jnp.int32)
    env = jax.random.randint(key_stream, (batch,), 0, layout.num_envs)
    agent_row = layout.demo_rows + env * stream + (oldest + agent_offset) % max(stream, 1)
    return jnp.where(from_demo, demo_offset, agent_row)


def sample_rows(layout: Layout, state: ReplayState, key: jax.Array) -> jax.Array:
    """Rows of `batch_size` transitions drawn among the valid ones (with replacement): uniformly, or
    in proportion to their priorities when the replay is prioritized."""
    draw = priorities.draw if layout.config.prioritized else _draw_uniform

    def redraw(carry: _Redraws) -> _Redraws:
        rounds, key, rows, valid = carry
        key, sub = jax.random.split(key)
        rows = jnp.where(valid, rows, draw(layout, state, sub))
        return rounds + 1, key, rows, streams.is_valid(layout, state, rows)

    def pending(carry: _Redraws) -> jax.Array:
        rounds, _, _, valid = carry
        return (~valid.all()) & (rounds < _MAX_REDRAWS)

    key, sub = jax.random.split(key)
    rows = draw(layout, state, sub)
    carry = jax.lax.while_loop(pending, redraw, (0, key, rows, streams.is_valid(layout, state, rows)))
    return carry[2]


def sample(
    layout: Layout, state: ReplayState, key: jax.Array, importance_exponent: jax.Array | float = 1.0
) -> Transition:
    """A batch of transitions drawn by `sample_rows`, with importance weights (see `gather`). Check
    `can_sample` first. To update priorities, call `sample_rows` and `gather` and keep the rows."""
    return gather(layout, state, sample_rows(layout, state, key), importance_exponent)


def can_sample(layout: Layout, state: ReplayState) -> jax.Array:
    """Whether enough complete transitions are stored to draw a batch."""
    batch, n, num_envs = layout.config.batch_size, layout.config.n_step, layout.num_envs
    demo, _ = streams.candidates(layout, state)
    _, count, skip = streams.agent_window(layout, state)
    # Agent steps whose n-step window is written however their episodes end: a stream's newest n steps
    # may still be waiting for theirs.
    agent_sure = num_envs * jnp.maximum(count - skip - n, 0) if layout.stream else 0
    fraction = layout.config.demo_fraction
    if fraction is None:
        return demo + agent_sure >= batch
    if fraction == 1.0:
        return demo >= batch
    if fraction == 0.0:
        return agent_sure >= batch
    return (demo > 0) & (agent_sure > 0) & (demo + agent_sure >= batch)
