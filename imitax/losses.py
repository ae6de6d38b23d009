"""Per-example losses, rlax style: each works on ONE transition; callers `vmap` and reduce.

Each function names the paper it comes from. Inputs are unbatched: `q_tm1` is the (num_actions,) vector
of Q-values at the time the action was taken, `q_t` the values one (or n) steps later.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def q_learning(
    q_tm1: jax.Array, a_tm1: jax.Array, r_t: jax.Array, discount_t: jax.Array, q_t: jax.Array
) -> jax.Array:
    """TD error of Q-learning: r_t + discount_t * max_a q_t[a] - q_tm1[a_tm1].

    Watkins 1989, "Learning from Delayed Rewards"; with a target network, Mnih et al. 2015,
    "Human-level control through deep reinforcement learning". With n-step returns (Peng & Williams
    1996), pass the n-step return as `r_t` and gamma**n as `discount_t`.

    Args:
      q_tm1: Q-values at time t-1, (num_actions,).
      a_tm1: action taken at t-1, ().
      r_t: reward (or n-step return), ().
      discount_t: discount (zero at a terminal state), ().
      q_t: Q-values to bootstrap from, usually of a target network, (num_actions,).

    Returns:
      The TD error, (). No gradient flows through the target.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t], [1, 0, 0, 0, 1])
    target = jax.lax.stop_gradient(r_t + discount_t * jnp.max(q_t))
    return target - q_tm1[a_tm1]


def double_q_learning(
    q_tm1: jax.Array,
    a_tm1: jax.Array,
    r_t: jax.Array,
    discount_t: jax.Array,
    q_t_value: jax.Array,
    q_t_selector: jax.Array,
) -> jax.Array:
    """TD error of double Q-learning: the online network picks the action, the target values it.

    van Hasselt, Guez & Silver 2016, "Deep Reinforcement Learning with Double Q-learning".

    Args:
      q_tm1: Q-values at time t-1, (num_actions,).
      a_tm1: action taken at t-1, ().
      r_t: reward (or n-step return), ().
      discount_t: discount (zero at a terminal state), ().
      q_t_value: Q-values that evaluate the chosen action (target network), (num_actions,).
      q_t_selector: Q-values that choose the action (online network), (num_actions,).

    Returns:
      The TD error, (). No gradient flows through the target.
    """
    chex.assert_rank([q_tm1, a_tm1, r_t, discount_t, q_t_value, q_t_selector], [1, 0, 0, 0, 1, 1])
    best = jnp.argmax(q_t_selector)
    target = jax.lax.stop_gradient(r_t + discount_t * q_t_value[best])
    return target - q_tm1[a_tm1]


def huber_loss(x: jax.Array, delta: float = 1.0) -> jax.Array:
    """Huber loss: quadratic within [-delta, delta], linear beyond, so TD errors have bounded gradients.

    Huber 1964, "Robust Estimation of a Location Parameter"; used as DQN's error clipping by
    Mnih et al. 2015.
    """
    abs_x = jnp.abs(x)
    quadratic = jnp.minimum(abs_x, delta)
    return 0.5 * quadratic**2 + delta * (abs_x - quadratic)


def l2_loss(x: jax.Array) -> jax.Array:
    """Half the squared error, 0.5 * x**2."""
    return 0.5 * jnp.square(x)
