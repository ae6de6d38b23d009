"""Per-example losses, rlax style: each works on ONE transition; callers `vmap` and reduce.

Each function names the paper it comes from. Inputs are unbatched: `q_tm1` is the (num_actions,) vector
of Q-values at the time the action was taken, `q_t` the values one (or n) steps later.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


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


def behaviour_cloning(logits: jax.Array, label: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
    """Cross-entropy of a softmax over `logits` against the demonstrator's action.

    Behaviour cloning as supervised classification of the demonstrator's actions (Pomerleau 1991,
    "Efficient Training of Artificial Neural Networks for Autonomous Navigation"; Bain & Sammut 1995,
    "A Framework for Behavioural Cloning"). The logits are a policy head's, or Q-values read as the logits
    of a Boltzmann policy. Label smoothing (Szegedy et al. 2016, "Rethinking the Inception
    Architecture") moves `label_smoothing` of the target's mass uniformly over all actions.

    Args:
      logits: unnormalised log-probabilities of the actions, (num_actions,).
      label: the action to imitate, ().
      label_smoothing: share of the target spread over all actions, in [0, 1).

    Returns:
      The cross-entropy, ().
    """
    chex.assert_rank([logits, label], [1, 0])
    target = optax.smooth_labels(jax.nn.one_hot(label, logits.shape[-1]), label_smoothing)
    return optax.losses.softmax_cross_entropy(logits, target)


def large_margin(q: jax.Array, label: jax.Array, margin: float = 0.8) -> jax.Array:
    """DQfD's large-margin supervised loss: max_a [Q(s, a) + l(a_E, a)] - Q(s, a_E).

    Hester et al. 2018, "Deep Q-learning from Demonstrations" (after Piot et al. 2014, "Boosted
    Bellman Residual Minimization Handling Expert Demonstrations"). l(a_E, a) is `margin` for every
    action but the demonstrator's and 0 for it, so the loss is zero once the demonstrated action's value
    leads every other by at least the margin. Apply it to demonstration transitions only.

    Args:
      q: Q-values of the state, (num_actions,).
      label: the demonstrator's action a_E, ().
      margin: the margin l, 0.8 in the paper.

    Returns:
      The loss, () >= 0.
    """
    chex.assert_rank([q, label], [1, 0])
    penalties = margin * (1.0 - jax.nn.one_hot(label, q.shape[-1], dtype=q.dtype))
    return jnp.max(q + penalties) - q[label]
