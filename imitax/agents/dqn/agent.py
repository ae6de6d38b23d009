"""The DQN agent as pure functions: `init(key, spec)`, `act(state, obs, key, epsilon)`,
`update(state, batch)`. Its state is a pytree; nothing mutates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from imitax.agents.acting import epsilon_greedy
from imitax.agents.base import Agent
from imitax.agents.dqn.config import DQNConfig
from imitax.agents.objective import Metrics, make_objective, td_term
from imitax.augment import shift_transitions
from imitax.networks import make_q_network
from imitax.types import EnvSpec, Transition


@flax.struct.dataclass
class DQNState:
    """Everything a DQN agent learns and needs to keep learning."""

    params: Any
    target_params: Any
    opt_state: Any
    updates: jax.Array  # () int32, gradient updates done
    key: jax.Array  # randomness for loss terms that need it
    apply_fn: Callable[[Any, jax.Array], jax.Array] = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)


def make_optimizer(config: DQNConfig) -> optax.GradientTransformation:
    """RMSProp as in Nature DQN (centered, as dqn_zoo writes it) or Adam, after optional clipping."""
    if config.optimizer == "rmsprop":
        opt = optax.rmsprop(
            config.learning_rate, decay=config.rmsprop_decay, eps=config.optimizer_eps, centered=True
        )
    else:
        opt = optax.adam(config.learning_rate, eps=config.optimizer_eps)
    if config.max_grad_norm is None:
        return opt
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), opt)


def make_dqn(config: DQNConfig) -> Agent:
    """Builds DQN with the options in `config` (double Q, dueling, n-step, loss, target updates)."""

    def init(key: jax.Array, spec: EnvSpec) -> DQNState:
        if config.augment_shift and spec.frame_stack is None:
            raise ValueError(f"augment_shift shifts frames; {spec.name} has vector observations: use 0")
        network = make_q_network(spec, torso=config.torso, dueling=config.dueling, mlp_sizes=config.mlp_sizes)
        key_params, key_state = jax.random.split(key)
        params = network.init(key_params, jnp.zeros((1, *spec.obs_shape), spec.obs_dtype))
        tx = make_optimizer(config)
        return DQNState(
            params=params,
            target_params=jax.tree.map(jnp.copy, params),  # its own buffers, so states can be donated
            opt_state=tx.init(params),
            updates=jnp.zeros((), jnp.int32),
            key=key_state,
            apply_fn=network.apply,
            tx=tx,
        )

    def act(state: DQNState, obs: jax.Array, key: jax.Array, epsilon: jax.Array | float) -> jax.Array:
        return epsilon_greedy(state.apply_fn(state.params, obs), key, epsilon)

    def update(state: DQNState, batch: Transition) -> tuple[DQNState, Metrics]:
        objective = make_objective(
            {
                "td": (
                    1.0,
                    td_term(
                        state.apply_fn,
                        double_q=config.double_q,
                        loss=config.loss,
                        huber_delta=config.huber_delta,
                    ),
                )
            }
        )
        key, key_loss, key_augment = jax.random.split(state.key, 3)
        if config.augment_shift:
            batch = shift_transitions(batch, key_augment, config.augment_shift)
        grad_fn = jax.grad(objective, has_aux=True)
        grads, metrics = grad_fn(state.params, state.target_params, batch, key_loss)
        deltas, opt_state = state.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, deltas)
        updates = state.updates + 1
        if config.target_tau is not None:
            target = optax.incremental_update(params, state.target_params, config.target_tau)
        else:
            target = optax.periodic_update(params, state.target_params, updates, config.target_update_period)
        metrics["grad_norm"] = optax.tree.norm(grads)
        new_state = state.replace(
            params=params, target_params=target, opt_state=opt_state, updates=updates, key=key
        )
        return new_state, metrics

    return Agent(init=init, act=act, update=update)
