"""How value-based agents turn Q-values into actions."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def epsilon_greedy(q_values: jax.Array, key: jax.Array, epsilon: jax.Array | float) -> jax.Array:
    """Greedy actions, each replaced by a uniformly random one with probability epsilon.

    Args:
      q_values: (B, num_actions).
      key: randomness for both the coin flips and the random actions.
      epsilon: exploration rate, a scalar.

    Returns:
      (B,) int32 actions.
    """
    key_coin, key_action = jax.random.split(key)
    batch, num_actions = q_values.shape
    greedy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
    random = jax.random.randint(key_action, (batch,), 0, num_actions, jnp.int32)
    explore = jax.random.uniform(key_coin, (batch,)) < epsilon
    return jnp.where(explore, random, greedy)
