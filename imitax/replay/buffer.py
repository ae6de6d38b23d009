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

Uniform sampling (the default) draws candidates uniformly. Prioritized sampling (Schaul et al. 2016,
"Prioritized Experience Replay", proportional variant) draws row i with probability P(i) = p_i / sum_k p_k
from a sum tree per partition (`sum_tree`), p_i = (|delta_i| + epsilon)^alpha, epsilon larger for
demonstrations (Hester et al. 2018, "Deep Q-learning from Demonstrations"). A row's priority is 0
while it cannot start a transition (a `last` step, a step whose n-step window is not yet written, a step
that lost its history when its stream wrapped); when its window completes, at most n steps after it was
written, it gets the largest priority set so far, as new transitions do in the paper. Invalid rows so
carry no mass, and redraws are rare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from imitax.replay import sum_tree
from imitax.types import EnvSpec, Step, Transition

# Rounds of redrawing invalid candidates; each round fails with prob <= 1/2 (uniform) or about 0
# (prioritized: invalid rows hold no priority).
_MAX_REDRAWS = 64
_TINY = float(np.finfo(np.float32).tiny)


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
    """Share of each batch drawn from demonstrations; None draws in proportion to what each holds (its
    valid transitions, or its total priority when prioritized: DQfD's single buffer)."""
    prioritized: bool = False
    """Draw transitions in proportion to their priority (Schaul et al. 2016) instead of uniformly."""
    priority_exponent: float = 0.6
    """alpha: a priority is (|TD error| + epsilon)^alpha; 0 samples uniformly."""
    priority_eps_agent: float = 1e-3
    """epsilon_a: added to |TD error| for agent transitions, so that every one may be replayed again."""
    priority_eps_demo: float = 1.0
    """epsilon_d: added to |TD error| for demonstrations, DQfD's bonus (Hester et al. 2018)."""


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
    demo_tree: jax.Array  # (2 * 2^ceil(log2 demo_capacity),) float32 sum tree of demo rows' priorities
    agent_tree: jax.Array  # (2 * 2^ceil(log2 capacity),) float32 sum tree of agent rows' priorities
    max_priority: jax.Array  # () float32, the largest priority ever set (1 at first)
    # Uniform replays keep both trees at (2,) zeros: orbax cannot save arrays of size 0.


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
            f"(each environment gets its own stream); try {max(config.capacity // num_envs, 1) * num_envs}."
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
    if not config.priority_exponent >= 0.0:
        raise ValueError(
            f"priority_exponent (alpha) must be >= 0 (0: uniform), got {config.priority_exponent}"
        )
    for name in ("priority_eps_agent", "priority_eps_demo"):
        value = getattr(config, name)
        if not 0.0 < value < float("inf"):
            raise ValueError(
                f"{name} must be a finite number > 0 so that every transition keeps a chance to be "
                f"replayed, got {value}"
            )


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
    prioritized, alpha = config.prioritized, config.priority_exponent

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
            demo_tree=sum_tree.init(demo_rows if prioritized else 0),
            agent_tree=sum_tree.init(config.capacity if prioritized else 0),
            max_priority=jnp.ones((), jnp.float32),
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
        state = state._replace(agent_added=state.agent_added + 1)
        if prioritized:  # the n steps before, which may have completed their windows, and the S-1 after
            ahead = (position + jnp.arange(-n, stack)) % stream
            nearby = demo_rows + jnp.arange(num_envs)[:, None] * stream + ahead[None, :]
            state = _refresh_priorities(state, nearby.ravel(), demo=False)
        return state

    def cut_streams(state: ReplayState) -> ReplayState:
        """Ends the episode of every agent stream at its newest step (truncated: its value still counts),
        as when the environments restart with new games after a resume, so that no transition bootstraps
        across the cut into another game."""
        if not stream:
            return state
        newest = demo_rows + jnp.arange(num_envs) * stream + (state.agent_added - 1) % stream
        written = state.agent_added > 0
        return state._replace(last=state.last.at[newest].set(state.last[newest] | written))

    def add_demos(state: ReplayState, steps: Step) -> ReplayState:
        """Appends consecutive demonstration steps (leading axis: time) after those already stored.

        Episodes should be whole: their last step flagged `last`. Steps past `demo_capacity` are dropped;
        check the room first (the loaders in `imitax.data` do, with a clear error).
        """
        if steps.frame.shape[1:] != frame_shape:
            raise ValueError(f"add_demos expects frames of shape (T, {frame_shape}), got {steps.frame.shape}")
        return _append_demos(state, steps)

    @jax.jit  # the loaders call it outside any jit: one compiled call, not dozens of eager ones
    def _append_demos(state: ReplayState, steps: Step) -> ReplayState:
        length = steps.frame.shape[0]
        rows = state.demo_size + jnp.arange(length)
        rows = jnp.where(rows < demo_rows, rows, rows_total)  # out of bounds: dropped by the scatter
        nearby = state.demo_size + jnp.arange(
            -n, length
        )  # the new steps and n before, which they may complete
        state = _write(state, rows, steps)
        added = jnp.minimum(state.demo_size + length, demo_rows)
        state = state._replace(demo_size=added.astype(jnp.int32))
        if prioritized:
            state = _refresh_priorities(state, nearby, demo=True, keep=nearby < demo_rows)
        return state

    # -- priorities ----------------------------------------------------------------------------------

    def _priorities(state: ReplayState, rows: jax.Array) -> jax.Array:
        """The priority p_i stored for each row (B,) -> (B,) float32."""
        is_demo = rows < demo_rows
        demo = sum_tree.get(state.demo_tree, rows)
        agent = sum_tree.get(state.agent_tree, rows - demo_rows)
        return jnp.where(is_demo, demo, agent)

    def _write_priorities(
        state: ReplayState, rows: jax.Array, priorities: jax.Array, keep: jax.Array | bool
    ) -> ReplayState:
        is_demo = rows < demo_rows
        return state._replace(
            demo_tree=sum_tree.set_leaves(state.demo_tree, rows, priorities, keep & is_demo),
            agent_tree=sum_tree.set_leaves(state.agent_tree, rows - demo_rows, priorities, keep & ~is_demo),
        )

    def _refresh_priorities(
        state: ReplayState, rows: jax.Array, demo: bool, keep: jax.Array | bool = True
    ) -> ReplayState:
        """After a write near `rows` (all demo rows or all agent rows), keeps the invariant that a row
        has a priority (> 0) exactly when it starts a transition: those that just became transitions
        get the max priority, the others that are keep theirs, those that are not get 0."""
        field, first_row = ("demo_tree", 0) if demo else ("agent_tree", demo_rows)
        tree = getattr(state, field)
        current = sum_tree.get(tree, rows - first_row)
        kept = jnp.where(current > 0, current, state.max_priority)
        priorities = jnp.where(is_valid(state, rows), kept, 0.0)
        return state._replace(**{field: sum_tree.set_leaves(tree, rows - first_row, priorities, keep)})

    def set_priorities(state: ReplayState, rows: jax.Array, td_abs: jax.Array) -> ReplayState:
        """Sets the priorities of sampled `rows` (B,) from their absolute TD errors `td_abs` (B,).

        p_i = (|delta_i| + epsilon)^alpha, with epsilon = `priority_eps_demo` for demonstration rows and
        `priority_eps_agent` for agent rows; the max priority given to new transitions follows the
        largest p_i. Where a row repeats, its last value wins. Rows that cannot start a transition (see
        `is_valid`) keep priority 0, so they are never drawn. Returns `state` unchanged when the replay
        is not prioritized.
        """
        if not prioritized:
            return state
        if rows.ndim != 1 or td_abs.shape != rows.shape:
            raise ValueError(
                f"set_priorities expects rows (B,) and td_abs (B,), got {rows.shape}, {td_abs.shape}"
            )
        epsilon = jnp.where(rows < demo_rows, config.priority_eps_demo, config.priority_eps_agent)
        priorities = ((jnp.abs(td_abs) + epsilon) ** alpha).astype(jnp.float32)
        # Sorted stably, a row's last occurrence is the only one not followed by an equal row.
        order = jnp.argsort(rows, stable=True)
        ordered = rows[order]
        repeated = jnp.append(ordered[:-1] == ordered[1:], False)
        overwritten = jnp.zeros(rows.shape, bool).at[order].set(repeated)
        written = is_valid(state, rows) & ~overwritten
        state = _write_priorities(state, rows, priorities, written)
        largest = jnp.where(written, priorities, 0.0).max(initial=0.0)
        return state._replace(max_priority=jnp.maximum(state.max_priority, largest))

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

    def _importance_weights(state: ReplayState, rows: jax.Array, beta: jax.Array | float) -> jax.Array:
        is_demo = rows < demo_rows
        demo_share = _demo_probability(state)
        share = jnp.where(is_demo, demo_share, 1.0 - demo_share)
        mass = jnp.where(is_demo, sum_tree.total(state.demo_tree), sum_tree.total(state.agent_tree))
        probability = share * _priorities(state, rows) / jnp.maximum(mass, _TINY)
        probability = jnp.maximum(probability, _TINY)
        return (probability.min() / probability) ** beta  # = (N P(i))^-beta / max_j (N P(j))^-beta

    def gather(
        state: ReplayState, rows: jax.Array, importance_exponent: jax.Array | float = 1.0
    ) -> Transition:
        """The transitions starting at `rows` (B,), which must be valid (see `is_valid`).

        Their `weight` is 1 under uniform sampling. Under prioritized sampling it is the importance weight
        w_i = (N P(i))^-beta normalised by the batch's largest, i.e. (min_j P(j) / P(i))^beta, where P(i)
        is the probability that one draw returns row i (its partition's share times p_i over the
        partition's total priority) and beta is `importance_exponent` (annealed by the caller). N, the
        number of transitions, cancels in the normalisation.
        """
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
            weight=(
                _importance_weights(state, rows, importance_exponent).astype(jnp.float32)
                if prioritized
                else jnp.ones(rows.shape, jnp.float32)
            ),
        )

    # -- sampling ------------------------------------------------------------------------------------

    def _candidates(state: ReplayState) -> tuple[jax.Array, jax.Array]:
        """Steps that may start a transition (before validity checks): (demo, agent)."""
        _, count, skip = _agent_window(state)
        agent = num_envs * jnp.maximum(count - 1 - skip, 0) if stream else jnp.zeros((), jnp.int32)
        demo = jnp.maximum(state.demo_size - 1, 0)
        return demo, agent

    def _demo_probability(state: ReplayState) -> jax.Array:
        """Probability that one draw comes from the demonstrations."""
        if config.demo_fraction is not None:
            return jnp.asarray(config.demo_fraction, jnp.float32)
        if prioritized:
            demo, agent = sum_tree.total(state.demo_tree), sum_tree.total(state.agent_tree)
            return demo / jnp.maximum(demo + agent, _TINY)
        demo, agent = _candidates(state)
        return demo / jnp.maximum(demo + agent, 1)

    def _draw_prioritized(state: ReplayState, key: jax.Array) -> jax.Array:
        key_part, key_mass = jax.random.split(key)
        from_demo = jax.random.uniform(key_part, (batch,)) < _demo_probability(state)
        u = jax.random.uniform(key_mass, (batch,))
        demo_row = sum_tree.find(state.demo_tree, u * sum_tree.total(state.demo_tree))
        agent_row = demo_rows + sum_tree.find(state.agent_tree, u * sum_tree.total(state.agent_tree))
        # Padding leaves hold no mass; the clamps only matter for a partition that holds none.
        demo_row = jnp.minimum(demo_row, max(demo_rows - 1, 0))
        return jnp.where(from_demo, demo_row, jnp.minimum(agent_row, rows_total - 1))

    def _draw_uniform(state: ReplayState, key: jax.Array) -> jax.Array:
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
        """Rows of `batch_size` transitions drawn among the valid ones (with replacement): uniformly, or
        in proportion to their priorities when the replay is prioritized."""
        draw = _draw_prioritized if prioritized else _draw_uniform

        def redraw(carry):
            rounds, key, rows, valid = carry
            key, sub = jax.random.split(key)
            rows = jnp.where(valid, rows, draw(state, sub))
            return rounds + 1, key, rows, is_valid(state, rows)

        def pending(carry):
            rounds, _, _, valid = carry
            return (~valid.all()) & (rounds < _MAX_REDRAWS)

        key, sub = jax.random.split(key)
        rows = draw(state, sub)
        carry = jax.lax.while_loop(pending, redraw, (0, key, rows, is_valid(state, rows)))
        return carry[2]

    def sample(
        state: ReplayState, key: jax.Array, importance_exponent: jax.Array | float = 1.0
    ) -> Transition:
        """A batch of transitions drawn by `sample_rows`, with importance weights (see `gather`). Check
        `can_sample` first. To update priorities, call `sample_rows` and `gather` and keep the rows."""
        return gather(state, sample_rows(state, key), importance_exponent)

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
        cut_streams=cut_streams,
        can_sample=can_sample,
        sample=sample,
        sample_rows=sample_rows,
        gather=gather,
        is_valid=is_valid,
        set_priorities=set_priorities,
        config=config,
        num_envs=num_envs,
    )


def state_nbytes(state: ReplayState) -> int:
    """Bytes held by a replay state's arrays."""
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state))
