"""One learner step for every objective: network outputs once per batch, the gradient of an objective,
an optax update and a target-network rule, as a pure `update(state, batch) -> (state, metrics)`.

DQN, behaviour cloning, DQfD and BC->DQN differ only in the objective and settings they hand to
`make_learner` (acme's `SGDLearner` is the idea, without its counters and iterators: the state is a
pytree, so the step jits, scans and vmaps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from imitax.agents.objective import (
    LOGITS_TM1,
    PRIORITIES,
    Q_NSTEP_ONLINE,
    Q_NSTEP_TARGET,
    Q_T_ONLINE,
    Q_T_TARGET,
    Q_TM1,
    Metrics,
    Objective,
)
from imitax.augment import shift_transitions
from imitax.networks import NetworkOutput
from imitax.types import Transition

ApplyFn = Callable[[Any, jax.Array], NetworkOutput]
TargetUpdate = Callable[[Any, Any, jax.Array], Any]
"""(online params, target params, updates done) -> new target params."""


@flax.struct.dataclass
class LearnerState:
    """Everything a learner learns and needs to keep learning. `apply_fn` and `tx` are static."""

    params: Any
    target_params: Any
    opt_state: Any
    updates: jax.Array  # () int32, gradient updates done
    key: jax.Array  # randomness for augmentation
    apply_fn: ApplyFn = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)


def with_params(state: LearnerState, params: Any) -> LearnerState:
    """`state` with `params` as its network's weights (and a copy of them as its target, if it keeps
    one): another run's weights as a starting point. The optimizer's statistics stay as they were."""
    params = jax.tree.map(jnp.array, params)  # its own buffers, so the state can be donated
    target = None if state.target_params is None else jax.tree.map(jnp.array, params)
    return state.replace(params=params, target_params=target)


def hard_target_update(period: int) -> TargetUpdate:
    """Copy the online network every `period` updates (Mnih et al. 2015)."""
    return lambda params, target, updates: optax.periodic_update(params, target, updates, period)


def polyak_target_update(tau: float) -> TargetUpdate:
    """target <- tau * online + (1 - tau) * target after every update (Lillicrap et al. 2016)."""
    return lambda params, target, updates: optax.incremental_update(params, target, tau)


def _concat(arrays: list[jax.Array]) -> jax.Array:
    return arrays[0] if len(arrays) == 1 else jnp.concatenate(arrays)


def network_outputs(
    state: LearnerState, params: Any, batch: Transition, needs: frozenset[str], same_nstep: bool
) -> dict[str, jax.Array]:
    """The outputs an objective reads, each network run once per input it needs.

    Gradients flow through `params` at `obs_tm1` only; the online network's values at later
    observations (double Q's selector) come from one extra pass without gradient, over every later
    observation it needs at once, and the target network likewise. With `same_nstep` (n = 1) the n-step
    observations are the one-step ones, so their outputs are shared rather than recomputed.
    """
    out: dict[str, jax.Array] = {}
    first = state.apply_fn(params, batch.obs_tm1)
    out[Q_TM1] = first.q_values
    out[LOGITS_TM1] = first.q_values if first.policy_logits is None else first.policy_logits

    def later(params: Any, one_step: str, n_step: str) -> None:
        wanted = [k for k in (one_step, n_step) if k in needs]
        if same_nstep and len(wanted) == 2:
            wanted = [one_step]
        if not wanted:
            return
        inputs = [batch.obs_t if k == one_step else batch.nstep_obs_t for k in wanted]
        q = state.apply_fn(params, _concat(inputs)).q_values
        for k, part in zip(wanted, jnp.split(q, len(wanted)), strict=True):
            out[k] = part
        if same_nstep and one_step in out:
            out.setdefault(n_step, out[one_step])

    later(jax.lax.stop_gradient(params), Q_T_ONLINE, Q_NSTEP_ONLINE)
    later(state.target_params, Q_T_TARGET, Q_NSTEP_TARGET)
    return out


def make_learner(
    objective: Objective,
    *,
    target_update: TargetUpdate | None,
    augment_shift: int = 0,
    same_nstep: bool = False,
    updates_offset: int = 0,
) -> Callable[[LearnerState, Transition], tuple[LearnerState, Metrics]]:
    """Builds `update(state, batch) -> (state, metrics)`: one gradient step on `objective`.

    Args:
      objective: the loss, with the network outputs it reads.
      target_update: how the target network follows the online one; None keeps it as it is (an
        objective without TD terms reads no target).
      augment_shift: random shifts of up to this many pixels on every observation (DrQ); 0: none.
      same_nstep: the batch's n-step fields are its one-step fields (n = 1): share their outputs.
      updates_offset: subtracted from the update count that decaying term weights read, so a phase's
        decay starts at its own first update.
    """

    def update(state: LearnerState, batch: Transition) -> tuple[LearnerState, Metrics]:
        key, key_augment = jax.random.split(state.key)
        if augment_shift:
            batch = shift_transitions(batch, key_augment, augment_shift)
        phase_updates = state.updates - updates_offset

        def loss_fn(params):
            outputs = network_outputs(state, params, batch, objective.needs, same_nstep)
            loss, metrics = objective.fn(outputs, batch, phase_updates)
            metrics["q_mean"] = outputs[Q_TM1].mean()
            return loss, metrics

        grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params)
        deltas, opt_state = state.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, deltas)
        updates = state.updates + 1
        target = state.target_params
        if target_update is not None:
            target = target_update(params, target, updates)
        metrics["grad_norm"] = optax.tree.norm(grads)
        new_state = state.replace(
            params=params, target_params=target, opt_state=opt_state, updates=updates, key=key
        )
        return new_state, metrics

    return update


def make_measure(
    objective: Objective, *, same_nstep: bool = False, updates_offset: int = 0
) -> Callable[[LearnerState, Transition], Metrics]:
    """Builds `measure(state, batch) -> metrics`: the objective's metrics of each example, (B,) each, and
    no update. Held-out data is scored with it: averaged by the caller over every example it holds.

    Args: as `make_learner`'s (no augmentation: held-out frames are scored as they are).
    """

    def measure(state: LearnerState, batch: Transition) -> Metrics:
        outputs = network_outputs(state, state.params, batch, objective.needs, same_nstep)
        updates = state.updates - updates_offset

        def one(out: dict[str, jax.Array], example: Transition) -> Metrics:
            add_axis = lambda x: x[None]
            _, metrics = objective.fn(jax.tree.map(add_axis, out), jax.tree.map(add_axis, example), updates)
            metrics.pop(PRIORITIES)
            return metrics

        return jax.vmap(one)(outputs, batch)

    return measure
