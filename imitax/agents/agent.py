"""Any imitax agent from its config: one network, the learner's update for the config's objective, and
epsilon-greedy acting. DQN, BC, DQfD, BC->DQN and DAgger all come from here."""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from imitax.agents.acting import epsilon_greedy
from imitax.agents.base import Agent
from imitax.agents.config import AgentConfig
from imitax.agents.learner import (
    LearnerState,
    hard_target_update,
    make_learner,
    make_measure,
    polyak_target_update,
)
from imitax.networks import make_q_network
from imitax.types import EnvSpec


def step_size(config: AgentConfig) -> optax.ScalarOrSchedule:
    """`learning_rate`, or its cosine decay to `learning_rate_end` over the run's planned updates."""
    if config.learning_rate_end is None:
        return config.learning_rate
    return optax.cosine_decay_schedule(
        config.learning_rate,
        decay_steps=max(config.expected_updates, 1),
        alpha=config.learning_rate_end / config.learning_rate,
    )


def make_optimizer(config: AgentConfig) -> optax.GradientTransformation:
    """RMSProp as in Nature DQN (centered, as dqn_zoo writes it) or Adam, after optional clipping, with
    optional L2 regularisation of the weights (DQfD's lambda_3) added to the gradient."""
    lr = step_size(config)
    if config.optimizer == "rmsprop":
        opt = optax.rmsprop(lr, decay=config.rmsprop_decay, eps=config.optimizer_eps, centered=True)
    else:
        opt = optax.adam(lr, eps=config.optimizer_eps)
    parts = []
    if config.max_grad_norm is not None:
        parts.append(optax.clip_by_global_norm(config.max_grad_norm))
    if config.weight_decay:
        parts.append(optax.add_decayed_weights(config.weight_decay))
    return optax.chain(*parts, opt) if parts else opt


def make_agent(config: AgentConfig, *, offline: bool = False) -> Agent:
    """The agent `config` describes; `offline` gives the update of its offline phase (`pretrain_loss`).

    Both phases share `init` and the state, so one state flows from pre-training into online learning.
    """
    settings = config.term_settings
    objective = (config.offline_loss if offline else config.online_loss).objective(settings)
    # Both phases share one state: it keeps a target network if either phase reads one.
    reads_target = config.online_loss.reads_target(settings) or config.offline_loss.reads_target(settings)
    if config.target_tau is not None:
        target_update = polyak_target_update(config.target_tau)
    else:
        target_update = hard_target_update(config.target_update_period)
    phase = dict(same_nstep=config.n_step == 1, updates_offset=0 if offline else config.pretrain_updates)
    update = make_learner(
        objective,
        target_update=target_update if reads_target else None,
        augment_shift=config.augment_shift,
        **phase,
    )
    measure = make_measure(objective, **phase)
    on_policy_head = config.acts_on_policy_head

    tx = make_optimizer(config)

    def network_for(spec: EnvSpec) -> nn.Module:
        return make_q_network(
            spec,
            torso=config.torso,
            dueling=config.dueling,
            mlp_sizes=config.mlp_sizes,
            policy_head=config.policy_head,
        )

    # One compiled program per game, shared by every seed's init: run op by op, the patches convolution's
    # slices and each parameter's zeros compiled a program apiece (about 300, 5-10 s on a 2-core CPU).
    @functools.partial(jax.jit, static_argnums=1)
    def arrays(key: jax.Array, spec: EnvSpec) -> tuple[Any, Any, Any, jax.Array]:
        key_params, key_state = jax.random.split(key)
        params = network_for(spec).init(key_params, jnp.zeros((1, *spec.obs_shape), spec.obs_dtype))
        # Its own buffers, so states can be donated; a pure cloner keeps no target at all.
        target = jax.tree.map(jnp.copy, params) if reads_target else None
        return params, target, tx.init(params), key_state

    def init(key: jax.Array, spec: EnvSpec) -> LearnerState:
        if config.augment_shift and spec.frame_stack is None:
            raise ValueError(f"augment_shift shifts frames; {spec.name} has vector observations: use 0")
        params, target, opt_state, key_state = arrays(key, spec)
        return LearnerState(
            params=params,
            target_params=target,
            opt_state=opt_state,
            updates=jnp.zeros((), jnp.int32),
            key=key_state,
            apply_fn=network_for(spec).apply,
            tx=tx,
        )

    def act(state: LearnerState, obs: jax.Array, key: jax.Array, epsilon: jax.Array | float) -> jax.Array:
        out = state.apply_fn(state.params, obs)
        scores = out.policy_logits if on_policy_head else out.q_values
        return epsilon_greedy(scores, key, epsilon)

    return Agent(init=init, act=act, update=update, measure=measure)
