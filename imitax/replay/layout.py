"""The replay's settings, its pytree state, and the static layout its pure functions are bound to.

`ReplayConfig` is what a user sets, `ReplayState` the arrays that change, and `Layout` the Python values
that fix the shapes of every compiled program: the config, the environment's frame shape and stack, the
number of parallel environments, and the row counts derived from them. The functions in `buffer`,
`streams` and `priorities` take the layout first; `make_replay` binds it with `functools.partial`, so it
stays out of the traced arguments and every size is a compile-time constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from imitax.types import EnvSpec


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


@dataclass(frozen=True)
class Layout:
    """Static values of one replay: Python numbers, never traced. Build with `Layout.of`."""

    config: ReplayConfig
    num_envs: int
    """Parallel environments, one agent stream each."""
    frame_shape: tuple[int, ...]
    """Shape of one stored frame (an observation without its stack axis)."""
    frame_dtype: np.dtype
    """dtype of stored frames, the environment's observation dtype."""
    frame_stack: int | None
    """The environment's frame stack; None when observations are single frames, not stacks."""
    stack: int
    """Frames per observation: `frame_stack`, or 1 when there is none."""
    stream: int
    """Rows of each agent stream, capacity // num_envs."""
    demo_rows: int
    """Rows of the demonstration partition, [0, demo_rows)."""
    rows_total: int
    """All rows: the demonstration partition, then the agent streams one after another."""

    @classmethod
    def of(cls, config: ReplayConfig, spec: EnvSpec, num_envs: int) -> Layout:
        """The layout of a replay of `config` for `num_envs` parallel environments of `spec`."""
        return cls(
            config=config,
            num_envs=num_envs,
            frame_shape=spec.frame_shape,
            frame_dtype=jnp.dtype(spec.obs_dtype),
            frame_stack=spec.frame_stack,
            stack=spec.frame_stack or 1,
            stream=config.capacity // num_envs,
            demo_rows=config.demo_capacity,
            rows_total=config.demo_capacity + config.capacity,
        )


def check_config(config: ReplayConfig, num_envs: int, frame_stack: int) -> None:
    """Raises a ValueError, saying how to fix it, where `config` cannot work for `num_envs` environments
    whose observations stack `frame_stack` frames (1 when not stacked)."""
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
    _check_sizes(config, num_envs, frame_stack)
    _check_demo_fraction(config)
    _check_priorities(config)


def _check_sizes(config: ReplayConfig, num_envs: int, frame_stack: int) -> None:
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


def _check_demo_fraction(config: ReplayConfig) -> None:
    fraction = config.demo_fraction
    if fraction is None:
        return
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"demo_fraction must be in [0, 1] or None, got {fraction}")
    if fraction > 0 and config.demo_capacity == 0:
        raise ValueError("demo_fraction > 0 needs demo_capacity > 0 to hold demonstrations")
    if fraction < 1 and config.capacity == 0:
        raise ValueError("demo_fraction < 1 needs capacity > 0 to hold agent data")


def _check_priorities(config: ReplayConfig) -> None:
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
