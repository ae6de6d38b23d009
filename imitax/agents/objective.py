"""Objectives as weighted sums of named loss terms over network outputs computed once per batch.

A term reads the `Outputs` the learner computed for a batch (Q-values of the online network at
`obs_tm1`, of the target network at `obs_t`, ...) and the batch itself, and returns a per-example loss
with a mask of the examples it applies to. DQN is {"td"} or {"nstep"}, behaviour cloning {"bc"}, DQfD
{"td", "nstep", "margin"} (its L2 term lives in the optimizer), so no term re-runs the network and a new
term is one function and one line in `TERMS`.

On the command line an objective is written `td=1,nstep=1,margin=1`: term names with their weights. A
weight may decay linearly to zero: `bc=0.5:20000` starts at 0.5 and reaches 0 after 20,000 updates,
counted from the objective's first update (BC kept for a while after pre-training, say).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from imitax import losses
from imitax.types import Transition

Metrics = dict[str, jax.Array]
Outputs = Mapping[str, jax.Array]
"""Network outputs of one batch, keyed by the names below; each (B, num_actions)."""

Q_TM1 = "q_tm1"
"""Online Q-values at obs_tm1 (gradients flow through these)."""
LOGITS_TM1 = "logits_tm1"
"""Policy logits at obs_tm1: the policy head's, or the online Q-values without one."""
Q_T_TARGET = "q_t_target"
"""Target-network Q-values at obs_t."""
Q_T_ONLINE = "q_t_online"
"""Online Q-values at obs_t, without gradient (double Q-learning's selector)."""
Q_NSTEP_TARGET = "q_nstep_target"
"""Target-network Q-values at nstep_obs_t."""
Q_NSTEP_ONLINE = "q_nstep_online"
"""Online Q-values at nstep_obs_t, without gradient."""

PRIORITIES = "priorities"
"""Key of the per-example new replay priorities in an update's metrics: |TD error| of the objective's
first TD term. The training loop takes them out before metrics are summed."""


class TermOutput(NamedTuple):
    loss: jax.Array
    """Per-example loss, (B,)."""
    applies: jax.Array
    """Where the term applies, (B,) bool: the loss counts only there."""
    td_error: jax.Array | None = None
    """Per-example TD error, (B,), for terms that have one (prioritized replay reads it)."""
    extras: Mapping[str, jax.Array] | None = None
    """Further per-example values to log, averaged over the examples the term applies to."""


@dataclass(frozen=True)
class Term:
    """A loss term: what it computes, and which network outputs it reads."""

    fn: Callable[[Outputs, Transition], TermOutput]
    needs: frozenset[str]


@dataclass(frozen=True)
class TermSettings:
    """The settings that terms read."""

    double_q: bool = False
    td_loss: str = "huber"
    huber_delta: float = 1.0
    margin: float = 0.8
    label_smoothing: float = 0.0


def _td(settings: TermSettings, n_step: bool) -> Term:
    """1-step (or n-step) Q-learning, double when asked, through a Huber or squared loss."""
    if settings.td_loss not in ("huber", "squared"):
        raise ValueError(f"unknown TD loss {settings.td_loss!r}; choose 'huber' or 'squared'")
    target, online = (Q_NSTEP_TARGET, Q_NSTEP_ONLINE) if n_step else (Q_T_TARGET, Q_T_ONLINE)

    def fn(out: Outputs, batch: Transition) -> TermOutput:
        if n_step:
            r_t, discount_t = batch.nstep_return_t, batch.nstep_discount_t
        else:
            r_t, discount_t = batch.reward_t, batch.discount_t
        q_tm1 = out[Q_TM1]
        if settings.double_q:
            td = jax.vmap(losses.double_q_learning)(
                q_tm1, batch.action_tm1, r_t, discount_t, out[target], out[online]
            )
        else:
            td = jax.vmap(losses.q_learning)(q_tm1, batch.action_tm1, r_t, discount_t, out[target])
        if settings.td_loss == "huber":  # Mnih et al. 2015's error clipping
            loss = optax.losses.huber_loss(td, delta=settings.huber_delta)
        else:
            loss = optax.losses.l2_loss(td)
        return TermOutput(loss, jnp.ones(td.shape, bool), td, {"td_abs": jnp.abs(td)})

    needs = {Q_TM1, target} | ({online} if settings.double_q else set())
    return Term(fn, frozenset(needs))


def td_term(settings: TermSettings) -> Term:
    """One-step TD: Q-learning (Mnih et al. 2015) or double Q-learning (van Hasselt et al. 2016)."""
    return _td(settings, n_step=False)


def nstep_term(settings: TermSettings) -> Term:
    """n-step TD over the replay's n-step fields (Peng & Williams 1996; Hester et al. 2018 use n=10)."""
    return _td(settings, n_step=True)


def margin_term(settings: TermSettings) -> Term:
    """DQfD's large-margin supervised loss (Hester et al. 2018) on demonstration transitions only."""

    def fn(out: Outputs, batch: Transition) -> TermOutput:
        loss = jax.vmap(losses.large_margin, in_axes=(0, 0, None))(
            out[Q_TM1], batch.label_tm1, settings.margin
        )
        return TermOutput(loss, batch.is_demo)

    return Term(fn, frozenset({Q_TM1}))


def bc_term(settings: TermSettings) -> Term:
    """Behaviour cloning: cross-entropy of the policy's softmax against the demonstrator's label, on
    demonstration transitions only (an agent's own actions are nothing to imitate)."""

    def fn(out: Outputs, batch: Transition) -> TermOutput:
        logits = out[LOGITS_TM1]
        loss = jax.vmap(losses.behaviour_cloning, in_axes=(0, 0, None))(
            logits, batch.label_tm1, settings.label_smoothing
        )
        accuracy = (jnp.argmax(logits, axis=-1) == batch.label_tm1).astype(jnp.float32)
        return TermOutput(loss, batch.is_demo, extras={"accuracy": accuracy})

    return Term(fn, frozenset({LOGITS_TM1}))


TERMS: dict[str, Callable[[TermSettings], Term]] = {
    "td": td_term,
    "nstep": nstep_term,
    "margin": margin_term,
    "bc": bc_term,
}
"""Every loss term an objective can name."""

TD_TERMS = frozenset({"td", "nstep"})
DEMO_TERMS = frozenset({"margin", "bc"})
"""Terms that only apply to demonstrations: an objective with one needs demonstrations to learn from."""


@dataclass(frozen=True)
class Weighted:
    """A term's weight: `weight`, decaying linearly to 0 over `decay_updates` updates when > 0."""

    weight: float
    decay_updates: int = 0

    def at(self, updates: jax.Array) -> jax.Array:
        if not self.decay_updates:
            return jnp.asarray(self.weight, jnp.float32)
        left = jnp.clip(1.0 - updates / self.decay_updates, 0.0, 1.0)
        return self.weight * left


def parse_loss(spec: str) -> dict[str, Weighted]:
    """`"td=1,nstep=1,margin=1"` -> {name: weight}; `bc=0.5:20000` decays over 20,000 updates.

    Raises:
      ValueError: an unknown term, a malformed entry, or no term with a positive weight.
    """
    weights: dict[str, Weighted] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, eq, value = part.partition("=")
        name = name.strip()
        if name not in TERMS:
            raise ValueError(f"unknown loss term {name!r} in {spec!r}; the terms are {', '.join(TERMS)}")
        if name in weights:
            raise ValueError(f"loss term {name!r} appears twice in {spec!r}")
        weight, _, decay = (value if eq else "1").partition(":")
        try:
            weights[name] = Weighted(float(weight), int(decay) if decay else 0)
        except ValueError:
            raise ValueError(
                f"loss term {part!r}: write name=weight or name=weight:decay_updates (e.g. bc=0.5:20000)"
            ) from None
        if weights[name].weight < 0 or weights[name].decay_updates < 0:
            raise ValueError(f"loss term {part!r}: weight and decay must be >= 0")
    if not any(w.weight > 0 for w in weights.values()):
        raise ValueError(f"the loss {spec!r} has no term with a positive weight; e.g. td=1 or bc=1")
    return weights


class Objective(NamedTuple):
    """`fn(outputs, batch, updates) -> (loss, metrics)`, and the outputs it reads."""

    fn: Callable[[Outputs, Transition, jax.Array], tuple[jax.Array, Metrics]]
    needs: frozenset[str]


def make_objective(terms: Mapping[str, tuple[Weighted | float, Term]]) -> Objective:
    """Combines named terms into one objective.

    The loss is the batch mean, each example scaled by its importance weight (`batch.weight`), of the
    weighted sum of the terms where they apply. Metrics hold `<name>_loss` for each term as its mean over
    the examples it applies to (a margin term over the demo share of a batch does not read low by that
    share), the terms' extras as `<name>_<extra>`, `loss`, and the new priorities under `PRIORITIES`.
    """
    if not terms:
        raise ValueError("an objective needs at least one term")
    terms = {
        name: (w if isinstance(w, Weighted) else Weighted(float(w)), term)
        for name, (w, term) in terms.items()
    }

    def fn(outputs: Outputs, batch: Transition, updates: jax.Array) -> tuple[jax.Array, Metrics]:
        total = 0.0
        metrics: Metrics = {}
        priorities = None
        for name, (weight, term) in terms.items():
            out = term.fn(outputs, batch)
            applies = out.applies.astype(jnp.float32)
            count = jnp.maximum(applies.sum(), 1.0)
            total = total + weight.at(updates) * out.loss * applies
            metrics[f"{name}_loss"] = (out.loss * applies).sum() / count
            for extra, values in (out.extras or {}).items():
                metrics[f"{name}_{extra}"] = (values * applies).sum() / count
            if priorities is None and out.td_error is not None:
                priorities = jnp.abs(out.td_error)
        loss = jnp.mean(total * batch.weight)
        metrics["loss"] = loss
        metrics[PRIORITIES] = jax.lax.stop_gradient(
            priorities if priorities is not None else jnp.zeros(batch.action_tm1.shape, jnp.float32)
        )
        return loss, metrics

    needs = frozenset().union(*(term.needs for _, term in terms.values()))
    return Objective(fn, needs)


def objective_from_spec(spec: str, settings: TermSettings) -> Objective:
    """The objective a `--loss` string names, its terms built with `settings`."""
    return make_objective({name: (w, TERMS[name](settings)) for name, w in parse_loss(spec).items()})
