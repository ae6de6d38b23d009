"""Prioritized replay: priorities, their upkeep, proportional draws and importance weights.

Prioritized sampling (Schaul et al. 2016, "Prioritized Experience Replay", proportional variant) draws
row i with probability P(i) = p_i / sum_k p_k from a sum tree per partition (`sum_tree`), with
p_i = (|delta_i| + epsilon)^alpha and epsilon larger for demonstrations (Hester et al. 2018, "Deep
Q-learning from Demonstrations"). A row's priority is 0 while it cannot start a transition (a `last`
step, a step whose n-step window is not yet written, a step that lost its history when its stream
wrapped); when its window completes, at most n steps after it was written, it gets the largest priority
set so far, as new transitions do in the paper. Invalid rows so carry no mass, and redraws are rare.

All functions are pure and take the static `Layout` first; those that change the state return it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from imitax.replay import streams, sum_tree
from imitax.replay.layout import Layout, ReplayState
from imitax.replay.streams import TINY


def priorities(layout: Layout, state: ReplayState, rows: jax.Array) -> jax.Array:
    """The priority p_i stored for each row (B,) -> (B,) float32."""
    is_demo = rows < layout.demo_rows
    demo = sum_tree.get(state.demo_tree, rows)
    agent = sum_tree.get(state.agent_tree, rows - layout.demo_rows)
    return jnp.where(is_demo, demo, agent)


def compute(layout: Layout, rows: jax.Array, td_abs: jax.Array) -> jax.Array:
    """p_i = (|delta_i| + epsilon)^alpha of each row (B,) from its TD error (B,), float32.

    epsilon is `priority_eps_demo` for demonstration rows, DQfD's bonus that keeps demonstrations
    replayed more often than agent data of the same error, and `priority_eps_agent` for agent rows.
    """
    config = layout.config
    epsilon = jnp.where(rows < layout.demo_rows, config.priority_eps_demo, config.priority_eps_agent)
    return ((jnp.abs(td_abs) + epsilon) ** config.priority_exponent).astype(jnp.float32)


def write(
    layout: Layout, state: ReplayState, rows: jax.Array, values: jax.Array, keep: jax.Array | bool
) -> ReplayState:
    """Writes `values` as the priorities of `rows` (B,) where `keep`, each in its partition's tree."""
    is_demo = rows < layout.demo_rows
    return state._replace(
        demo_tree=sum_tree.set_leaves(state.demo_tree, rows, values, keep & is_demo),
        agent_tree=sum_tree.set_leaves(state.agent_tree, rows - layout.demo_rows, values, keep & ~is_demo),
    )


def refresh(
    layout: Layout, state: ReplayState, rows: jax.Array, demo: bool, keep: jax.Array | bool = True
) -> ReplayState:
    """After a write near `rows` (all demo rows or all agent rows), keeps the invariant that a row
    has a priority (> 0) exactly when it starts a transition: those that just became transitions
    get the max priority, the others that are keep theirs, those that are not get 0."""
    field, first_row = ("demo_tree", 0) if demo else ("agent_tree", layout.demo_rows)
    tree = getattr(state, field)
    current = sum_tree.get(tree, rows - first_row)
    kept = jnp.where(current > 0, current, state.max_priority)
    values = jnp.where(streams.is_valid(layout, state, rows), kept, 0.0)
    return state._replace(**{field: sum_tree.set_leaves(tree, rows - first_row, values, keep)})


def set_priorities(layout: Layout, state: ReplayState, rows: jax.Array, td_abs: jax.Array) -> ReplayState:
    """Sets the priorities of sampled `rows` (B,) from their absolute TD errors `td_abs` (B,).

    p_i = (|delta_i| + epsilon)^alpha, with epsilon = `priority_eps_demo` for demonstration rows and
    `priority_eps_agent` for agent rows; the max priority given to new transitions follows the
    largest p_i. Where a row repeats, its last value wins. Rows that cannot start a transition (see
    `is_valid`) keep priority 0, so they are never drawn. Returns `state` unchanged when the replay
    is not prioritized.
    """
    if not layout.config.prioritized:
        return state
    if rows.ndim != 1 or td_abs.shape != rows.shape:
        raise ValueError(
            f"set_priorities expects rows (B,) and td_abs (B,), got {rows.shape}, {td_abs.shape}"
        )
    values = compute(layout, rows, td_abs)
    # Sorted stably, a row's last occurrence is the only one not followed by an equal row.
    order = jnp.argsort(rows, stable=True)
    ordered = rows[order]
    repeated = jnp.append(ordered[:-1] == ordered[1:], False)
    overwritten = jnp.zeros(rows.shape, bool).at[order].set(repeated)
    written = streams.is_valid(layout, state, rows) & ~overwritten
    state = write(layout, state, rows, values, written)
    largest = jnp.where(written, values, 0.0).max(initial=0.0)
    return state._replace(max_priority=jnp.maximum(state.max_priority, largest))


def draw(layout: Layout, state: ReplayState, key: jax.Array) -> jax.Array:
    """Rows of `batch_size` draws (B,), each in proportion to its priority within the partition that a
    first coin (`demo_probability`) picks; rows of priority 0 are never returned while a partition
    holds mass."""
    batch, demo_rows = layout.config.batch_size, layout.demo_rows
    key_part, key_mass = jax.random.split(key)
    from_demo = jax.random.uniform(key_part, (batch,)) < streams.demo_probability(layout, state)
    u = jax.random.uniform(key_mass, (batch,))
    demo_row = sum_tree.find(state.demo_tree, u * sum_tree.total(state.demo_tree))
    agent_row = demo_rows + sum_tree.find(state.agent_tree, u * sum_tree.total(state.agent_tree))
    # Padding leaves hold no mass; the clamps only matter for a partition that holds none.
    demo_row = jnp.minimum(demo_row, max(demo_rows - 1, 0))
    return jnp.where(from_demo, demo_row, jnp.minimum(agent_row, layout.rows_total - 1))


def importance_weights(
    layout: Layout, state: ReplayState, rows: jax.Array, beta: jax.Array | float
) -> jax.Array:
    """w_i = (N P(i))^-beta normalised by the batch's largest, i.e. (min_j P(j) / P(i))^beta, (B,).

    P(i) is the probability that one draw returns row i: its partition's share times p_i over the
    partition's total priority. N, the number of transitions, cancels in the normalisation.
    """
    is_demo = rows < layout.demo_rows
    demo_share = streams.demo_probability(layout, state)
    share = jnp.where(is_demo, demo_share, 1.0 - demo_share)
    mass = jnp.where(is_demo, sum_tree.total(state.demo_tree), sum_tree.total(state.agent_tree))
    probability = share * priorities(layout, state, rows) / jnp.maximum(mass, TINY)
    probability = jnp.maximum(probability, TINY)
    return (probability.min() / probability) ** beta  # = (N P(i))^-beta / max_j (N P(j))^-beta
