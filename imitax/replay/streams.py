"""Where rows sit in the replay's streams, which of them start a transition, and the stacks they show.

Rows [0, demo_rows) are the demonstration partition, one stream filled episode after episode. The rest
are one circular stream per environment, `stream` rows each, written in lockstep; after a stream wraps,
its S-1 oldest steps have lost their history and start no transition. All functions are pure, take the
static `Layout` first, and trace to the same program for the same layout.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from imitax.replay import sum_tree
from imitax.replay.layout import Layout, ReplayState

TINY = float(np.finfo(np.float32).tiny)
"""Smallest normal float32: a floor for probabilities and masses that may be 0."""


class Where(NamedTuple):
    """Where sampled rows sit: their stream, and their place in it."""

    base: jax.Array  # first row of the stream
    length: jax.Array  # rows in the stream
    oldest: jax.Array  # position of the stream's oldest step
    offset: jax.Array  # steps from the oldest to this one
    count: jax.Array  # steps the stream holds
    is_demo: jax.Array


def agent_window(layout: Layout, state: ReplayState) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(oldest position, steps held, steps skipped at the old end) of each agent stream."""
    added = state.agent_added
    wrapped = added > layout.stream
    oldest = jnp.where(wrapped, added % layout.stream, 0)
    count = jnp.minimum(added, layout.stream)
    skip = jnp.where(wrapped, layout.stack - 1, 0)
    return oldest, count, skip


def where(layout: Layout, state: ReplayState, rows: jax.Array) -> Where:
    """The stream of each row (B,) and its place in it."""
    demo_rows, stream = layout.demo_rows, layout.stream
    oldest, count, _ = agent_window(layout, state)
    is_demo = rows < demo_rows
    agent_stream = jnp.maximum(rows - demo_rows, 0) // max(stream, 1)
    base = jnp.where(is_demo, 0, demo_rows + agent_stream * stream)
    length = jnp.where(is_demo, max(demo_rows, 1), max(stream, 1))
    oldest = jnp.where(is_demo, 0, oldest)
    count = jnp.where(is_demo, state.demo_size, count)
    offset = (rows - base - oldest) % length
    return Where(base, length, oldest, offset, count, is_demo)


def row(w: Where, offset: jax.Array) -> jax.Array:
    """Row of the step `offset` steps after the stream's oldest (offsets broadcast)."""
    base, length, oldest = (
        x[..., None] if offset.ndim > w.base.ndim else x for x in (w.base, w.length, w.oldest)
    )
    return base + (oldest + offset) % length


def episode_span(layout: Layout, state: ReplayState, w: Where) -> jax.Array:
    """m: steps to the n-step bootstrap, cut short at the episode's last step, (B,)."""
    n = layout.config.n_step
    ahead = w.offset[:, None] + jnp.arange(1, n + 1)[None, :]  # (B, n)
    is_last = state.last[row(w, ahead)]
    return jnp.where(is_last.any(axis=1), jnp.argmax(is_last, axis=1) + 1, n)


def is_valid(layout: Layout, state: ReplayState, rows: jax.Array) -> jax.Array:
    """Whether a transition starts at each row (B,) -> (B,) bool."""
    w = where(layout, state, rows)
    skip = jnp.where(w.is_demo, 0, agent_window(layout, state)[2])
    span = episode_span(layout, state, w)
    return (w.offset >= skip) & (w.offset + span <= w.count - 1) & ~state.last[rows]


def observations(layout: Layout, state: ReplayState, w: Where, offset: jax.Array) -> jax.Array:
    """Observations ending at the steps `offset` after the oldest, (B, *obs_shape).

    A stack never reaches back past the start of a game (a `first` step) or the oldest step held: the
    frames before are that step's frame repeated, which is what the environments show at a reset.
    """
    stack = layout.stack
    if layout.frame_stack is None:
        return state.frames[row(w, offset)]
    if stack == 1:
        return state.frames[row(w, offset)][:, None]
    back = jnp.arange(stack - 1)[None, :]  # how far back a boundary may sit
    at_first = state.first[row(w, offset[:, None] - back)]
    boundary = at_first | (offset[:, None] - back <= 0)  # a game's start, or the oldest step held
    nearest = jnp.where(boundary.any(axis=1), jnp.argmax(boundary, axis=1), stack - 1)  # (B,)
    reach = jnp.minimum(jnp.arange(stack - 1, -1, -1)[None, :], nearest[:, None])  # (B, S), oldest first
    return state.frames[row(w, offset[:, None] - reach)]


def candidates(layout: Layout, state: ReplayState) -> tuple[jax.Array, jax.Array]:
    """Steps that may start a transition (before validity checks): (demo, agent)."""
    _, count, skip = agent_window(layout, state)
    num_envs = layout.num_envs
    agent = num_envs * jnp.maximum(count - 1 - skip, 0) if layout.stream else jnp.zeros((), jnp.int32)
    demo = jnp.maximum(state.demo_size - 1, 0)
    return demo, agent


def demo_probability(layout: Layout, state: ReplayState) -> jax.Array:
    """Probability that one draw comes from the demonstrations: the configured fraction, else each
    partition's share of the total priority (prioritized) or of the candidate steps (uniform)."""
    config = layout.config
    if config.demo_fraction is not None:
        return jnp.asarray(config.demo_fraction, jnp.float32)
    if config.prioritized:
        demo, agent = sum_tree.total(state.demo_tree), sum_tree.total(state.agent_tree)
        return demo / jnp.maximum(demo + agent, TINY)
    demo, agent = candidates(layout, state)
    return demo / jnp.maximum(demo + agent, 1)
