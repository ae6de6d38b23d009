"""Objectives as weighted sums of named loss terms over network outputs computed once per batch.

A term reads the `Outputs` the learner computed for a batch (Q-values of the online network at
`obs_tm1`, of the target network at `obs_t`, ...) and the batch itself, and returns a per-example loss
with a mask of the examples it applies to. DQN is {"td"} or {"nstep"}, behaviour cloning {"bc"}, DQfD
{"td", "nstep", "margin"} (its L2 term lives in the optimizer), so no term re-runs the network. A new
term is one function, `settings -> Term`, made nameable by `register_term` (or named by its import path,
`--loss td=1,mypkg.terms:cql=0.1`); it declares the outputs it reads, and the learner keeps a target
network exactly when some term reads one.

On the command line an objective is written `td=1,nstep=1,margin=1`: term names with their weights. A
weight may decay linearly to zero: `bc=0.5:20000` starts at 0.5 and reaches 0 after 20,000 updates,
counted from the objective's first update (BC kept for a while after pre-training, say). `Loss.parse`
reads such a string once, into a typed value, when a config is made.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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
TARGET_OUTPUTS = frozenset({Q_T_TARGET, Q_NSTEP_TARGET})
"""The outputs of the target network: a learner keeps one when a term reads any of them."""

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
    """The network outputs it reads (`Q_TM1`, `Q_T_TARGET`, ...): the learner computes just those."""
    demos_only: bool = False
    """Whether it applies to demonstration transitions only, so that it needs demonstrations."""


@dataclass(frozen=True)
class TermSettings:
    """The settings that terms read."""

    double_q: bool = False
    td_loss: str = "huber"
    huber_delta: float = 1.0
    margin: float = 0.8
    label_smoothing: float = 0.0
    bc_balance: bool = False


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

    return Term(fn, frozenset({Q_TM1}), demos_only=True)


def bc_term(settings: TermSettings) -> Term:
    """Behaviour cloning: cross-entropy of the policy's softmax against the demonstrator's label, on
    demonstration transitions only (an agent's own actions are nothing to imitate)."""

    def fn(out: Outputs, batch: Transition) -> TermOutput:
        logits = out[LOGITS_TM1]
        loss = jax.vmap(losses.behaviour_cloning, in_axes=(0, 0, None))(
            logits, batch.label_tm1, settings.label_smoothing
        )
        if settings.bc_balance:
            loss = loss * balance_weights(batch.label_tm1, batch.is_demo, logits.shape[-1])
        accuracy = (jnp.argmax(logits, axis=-1) == batch.label_tm1).astype(jnp.float32)
        return TermOutput(loss, batch.is_demo, extras={"accuracy": accuracy})

    return Term(fn, frozenset({LOGITS_TM1}), demos_only=True)


def balance_weights(labels: jax.Array, applies: jax.Array, num_actions: int) -> jax.Array:
    """Per-example weights that give every action among the examples that apply an equal share of the
    loss: n / (k * count of the example's label), for n examples and k distinct labels, so that they
    average 1 (class-balanced cross-entropy over the batch's own label counts). A demonstrator that
    mostly waits (Pong's sight expert: 90% NOOP) otherwise teaches a clone to wait always."""
    counts = (jax.nn.one_hot(labels, num_actions) * applies[:, None]).sum(axis=0)  # (A,)
    present = jnp.maximum((counts > 0).sum(), 1)
    weights = applies.sum() / (present * jnp.maximum(counts[labels], 1.0))
    return jax.lax.stop_gradient(jnp.where(applies, weights, 0.0))


TermFactory = Callable[[TermSettings], Term]
"""Builds a term from the settings terms read."""

BUILT_IN_TERMS: Mapping[str, TermFactory] = {
    "td": td_term,
    "nstep": nstep_term,
    "margin": margin_term,
    "bc": bc_term,
}
_registered: dict[str, TermFactory] = {}


def register_term(name: str, factory: TermFactory) -> None:
    """Makes `name` a term objectives can use in this process (`--loss td=1,<name>=0.1`); registering a
    name again replaces it. A run that uses it records where `factory` lives (`term_sources`), so
    `imitax eval`, `reproduce` and `load_agent` find it again in another process: define it in a module,
    or in a script that registers it when loaded.

    Raises:
      ValueError: a built-in term's name, or a name that is not an identifier.
    """
    if name in BUILT_IN_TERMS:
        raise ValueError(f"{name!r} is a built-in term; choose another name")
    if not name.isidentifier():
        raise ValueError(f"a term's name is an identifier, like cql; got {name!r}")
    _registered[name] = factory


def term_factory(name: str) -> TermFactory:
    """The factory of a built-in or registered term, or of one named by import path (`pkg.mod:fn`, or
    `path/to/file.py:fn`).

    Raises:
      ValueError: an unknown name, or an import path that does not lead to a callable.
    """
    if name in BUILT_IN_TERMS:
        return BUILT_IN_TERMS[name]
    if name in _registered:
        return _registered[name]
    if ":" in name:
        return _imported(name)
    known = ", ".join([*BUILT_IN_TERMS, *_registered])
    raise ValueError(
        f"unknown loss term {name!r}; the terms are {known} (add one with imitax.register_term, or name it "
        "by import path, e.g. mypkg.terms:cql)"
    )


def _imported(path: str) -> TermFactory:
    where, _, attribute = path.rpartition(":")
    try:
        if where.endswith(".py"):
            name = f"imitax_terms_{Path(where).stem}"
            spec = importlib.util.spec_from_file_location(name, where)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # before it runs, as dataclasses and pickling look it up there
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except (ImportError, OSError) as err:
        raise ValueError(f"loss term {path!r}: cannot import {where} ({err})") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ValueError(f"loss term {path!r}: {where} has no function {attribute!r}")
    return factory


def term_sources(names: Sequence[str]) -> dict[str, str]:
    """Where each registered term among `names` lives, as an import path a later process can load (a
    script's file path when it was registered by a script run as `__main__`)."""
    return {name: _source(_registered[name]) for name in names if name in _registered}


def _source(factory: TermFactory) -> str:
    """`module:function` when the module's name leads to its file from `sys.path`; else `file.py:function`
    (a script run as `__main__`, or a file loaded under a name of its own)."""
    module, file = factory.__module__, Path(inspect.getfile(factory)).resolve()
    relative = Path(*module.split("."))
    candidates = [relative.with_suffix(".py"), relative / "__init__.py"]
    importable = module != "__main__" and any(
        (Path(entry or ".") / candidate).resolve() == file for entry in sys.path for candidate in candidates
    )
    return f"{module if importable else file}:{factory.__qualname__}"


def register_sources(sources: Mapping[str, str]) -> None:
    """Registers a run's recorded terms (`term_sources`) that this process does not know yet."""
    for name, path in sources.items():
        if name not in BUILT_IN_TERMS and name not in _registered:
            _registered[name] = _imported(path)


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


@dataclass(frozen=True)
class Loss:
    """An objective as a command line writes it (`td=1,bc=0.5:20000`), parsed once: its terms, in order,
    with their weights and factories."""

    spec: str
    weights: tuple[tuple[str, Weighted], ...]
    factories: tuple[TermFactory, ...]

    @classmethod
    def parse(cls, spec: str) -> Loss:
        """Raises ValueError: an unknown term, a malformed entry, or no term with a positive weight."""
        weights, factories = _parse(spec)
        return cls(spec, tuple(weights.items()), tuple(factories))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.weights)

    def terms(self, settings: TermSettings) -> dict[str, tuple[Weighted, Term]]:
        return {
            name: (weight, factory(settings))
            for (name, weight), factory in zip(self.weights, self.factories, strict=True)
        }

    def objective(self, settings: TermSettings) -> Objective:
        return make_objective(self.terms(settings))

    def reads_target(self, settings: TermSettings) -> bool:
        """Whether some term reads the target network's outputs."""
        return any(term.needs & TARGET_OUTPUTS for _, term in self.terms(settings).values())


def parse_loss(spec: str) -> dict[str, Weighted]:
    """`"td=1,nstep=1,margin=1"` -> {name: weight}; `bc=0.5:20000` decays over 20,000 updates.

    Raises:
      ValueError: an unknown term, a malformed entry, or no term with a positive weight.
    """
    return _parse(spec)[0]


def _parse(spec: str) -> tuple[dict[str, Weighted], list[TermFactory]]:
    weights: dict[str, Weighted] = {}
    factories = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        name, eq, value = part.partition("=")
        name = name.strip()
        factories.append(term_factory(name))
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
    return weights, factories


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
