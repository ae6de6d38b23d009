"""The shape every agent has: pure functions over a pytree state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from imitax.agents.objective import Metrics
from imitax.types import EnvSpec, Transition


class Agent(NamedTuple):
    """An agent's pure functions. Nothing outside needs to know its state's internals.

    init(key, spec) -> state
    act(state, obs (B, ...), key, epsilon) -> actions (B,)
    update(state, batch) -> (state, metrics)
    measure(state, batch) -> metrics of each example (B,), no update: scores held-out data
    """

    init: Callable[[jax.Array, EnvSpec], Any]
    act: Callable[[Any, jax.Array, jax.Array, jax.Array | float], jax.Array]
    update: Callable[[Any, Transition], tuple[Any, Metrics]]
    measure: Callable[[Any, Transition], Metrics]
