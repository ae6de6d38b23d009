"""Objectives as weighted sums of named loss terms over one `Transition` batch.

A term is `(params, target_params, batch, key) -> (per_example_loss (B,), metrics)`. DQN is one TD term;
behaviour cloning and DQfD's margin loss are further terms over the same batch, so agents combine them
without knowing each other's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from imitax import losses
from imitax.types import Transition

Params = Any
Metrics = dict[str, jax.Array]


class Term(Protocol):
    def __call__(
        self, params: Params, target_params: Params, batch: Transition, key: jax.Array
    ) -> tuple[jax.Array, Metrics]: ...


Objective = Callable[..., tuple[jax.Array, Metrics]]


def make_objective(terms: Mapping[str, tuple[float, Term]]) -> Objective:
    """Combines named terms into `objective(params, target_params, batch, key, weights=None)`.

    The loss is the batch mean of the weighted sum of per-example terms, each example scaled by its
    importance weight when `weights` is given (prioritized replay). Metrics hold `<name>_loss` for each
    term and the terms' own metrics under `<name>/`.
    """
    if not terms:
        raise ValueError("an objective needs at least one term")

    def objective(params, target_params, batch: Transition, key: jax.Array, weights=None):
        keys = jax.random.split(key, len(terms))
        total = 0.0
        metrics: Metrics = {}
        for term_key, (name, (weight, term)) in zip(keys, terms.items(), strict=True):
            per_example, term_metrics = term(params, target_params, batch, term_key)
            total = total + weight * per_example
            metrics[f"{name}_loss"] = per_example.mean()
            metrics.update({f"{name}/{k}": v for k, v in term_metrics.items()})
        if weights is not None:
            total = total * weights
        loss = jnp.mean(total)
        metrics["loss"] = loss
        return loss, metrics

    return objective


def td_term(
    apply_fn: Callable[[Params, jax.Array], jax.Array],
    *,
    double_q: bool,
    loss: str = "huber",
    huber_delta: float = 1.0,
    n_step: bool = True,
) -> Term:
    """The TD term of DQN and its variants.

    Args:
      apply_fn: the Q-network, (params, obs (B, ...)) -> (B, num_actions).
      double_q: use double Q-learning targets (van Hasselt et al. 2016).
      loss: "huber" (Mnih et al. 2015's error clipping) or "squared".
      huber_delta: where the Huber loss turns linear.
      n_step: bootstrap from the replay's n-step fields (the one-step fields otherwise; they are the
        same when the replay's n_step is 1).
    """
    if loss not in ("huber", "squared"):
        raise ValueError(f"unknown TD loss {loss!r}; choose 'huber' or 'squared'")

    def term(params, target_params, batch: Transition, key):
        del key
        if n_step:
            r_t, discount_t, obs_t = batch.nstep_return_t, batch.nstep_discount_t, batch.nstep_obs_t
        else:
            r_t, discount_t, obs_t = batch.reward_t, batch.discount_t, batch.obs_t
        q_tm1 = apply_fn(params, batch.obs_tm1)  # (B, A)
        q_t_target = apply_fn(target_params, obs_t)  # (B, A)
        if double_q:
            q_t_online = apply_fn(params, obs_t)
            td = jax.vmap(losses.double_q_learning)(
                q_tm1, batch.action_tm1, r_t, discount_t, q_t_target, q_t_online
            )
        else:
            td = jax.vmap(losses.q_learning)(q_tm1, batch.action_tm1, r_t, discount_t, q_t_target)
        per_example = losses.huber_loss(td, huber_delta) if loss == "huber" else losses.l2_loss(td)
        return per_example, {"q_mean": q_tm1.mean(), "td_abs": jnp.abs(td).mean()}

    return term
