"""The one learner: outputs computed once per batch, every objective on the same state, phases sharing it."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imitax.agents.agent import make_agent
from imitax.agents.algorithms import DQN_CARTPOLE, BCConfig, DQfDConfig
from imitax.agents.objective import PRIORITIES
from imitax.types import EnvSpec, Transition

VECTOR = EnvSpec("CartPole-v1", (4,), "float32", None, 2)
ATARI = EnvSpec("Pong", (4, 84, 84), "uint8", 4, 6)


def _batch(spec: EnvSpec, size: int = 8, demo: bool = True, seed: int = 0) -> Transition:
    key_obs, key_label = jax.random.split(jax.random.key(seed))
    if spec.obs_dtype == "uint8":
        obs = jax.random.randint(key_obs, (size, *spec.obs_shape), 0, 255).astype(jnp.uint8)
    else:
        obs = jax.random.normal(key_obs, (size, *spec.obs_shape))
    labels = jax.random.randint(key_label, (size,), 0, spec.num_actions)
    zeros = jnp.zeros(size)
    return Transition(
        obs, labels, labels, zeros + 1, zeros + 0.9, obs, zeros + 1, zeros + 0.9, obs, jnp.full(size, demo)
    )


def _counting(state):
    """The state with its network wrapped to count the passes traced per update."""
    calls = []

    def apply(params, obs):
        calls.append(obs.shape[0])
        return state.apply_fn(params, obs)

    return state.replace(apply_fn=apply), calls


@pytest.mark.parametrize(
    "loss, double_q, n_step, passes",
    [
        ("td=1", False, 1, 2),  # online at obs_tm1, target at obs_t
        ("td=1", True, 1, 3),  # + online selector at obs_t
        ("td=1,nstep=1,margin=1", True, 10, 3),  # obs_t and nstep_obs_t share one pass per network
        ("td=1,nstep=1,margin=1", True, 1, 3),  # n = 1: the n-step outputs are the one-step ones
        ("bc=1", False, 1, 1),
    ],
)
def test_each_network_runs_once_per_batch(loss, double_q, n_step, passes):
    config = dataclasses.replace(DQN_CARTPOLE, loss=loss, double_q=double_q, n_step=n_step)
    agent = make_agent(config)
    state, calls = _counting(agent.init(jax.random.key(0), VECTOR))
    jax.eval_shape(agent.update, state, _batch(VECTOR))
    assert len(calls) == passes, calls


def test_dqfd_update_is_pure_and_reports_every_term():
    config = DQfDConfig(env="CartPole-v1", torso="mlp", dueling=False)
    agent = make_agent(config)
    state = agent.init(jax.random.key(0), VECTOR)
    new, metrics = jax.jit(agent.update)(state, _batch(VECTOR))
    assert int(new.updates) == 1 and int(state.updates) == 0
    assert {"td_loss", "nstep_loss", "margin_loss", "loss", "grad_norm", "q_mean"} <= set(metrics)
    assert metrics[PRIORITIES].shape == (8,)
    assert bool(jnp.all(metrics[PRIORITIES] >= 0))


def test_margin_term_is_zero_without_demonstrations():
    config = DQfDConfig(env="CartPole-v1", torso="mlp", dueling=False)
    agent = make_agent(config)
    state = agent.init(jax.random.key(0), VECTOR)
    _, metrics = agent.update(state, _batch(VECTOR, demo=False))
    assert float(metrics["margin_loss"]) == 0.0


def test_bc_learns_labels_and_keeps_no_target_network():
    config = BCConfig(env="CartPole-v1", torso="mlp", optimizer="adam", learning_rate=1e-2)
    agent = make_agent(config, offline=True)
    state = agent.init(jax.random.key(0), VECTOR)
    assert state.target_params is None  # a pure cloner reads no target
    batch = _batch(VECTOR, size=16)
    update = jax.jit(agent.update)
    for _ in range(200):
        state, metrics = update(state, batch)
    assert float(metrics["bc_accuracy"]) == 1.0
    actions = agent.act(state, batch.obs_tm1, jax.random.key(1), 0.0)
    np.testing.assert_array_equal(actions, batch.label_tm1)


def test_policy_head_acts_when_the_objective_learns_no_values():
    config = BCConfig(env="CartPole-v1", torso="mlp", policy_head=True)
    agent = make_agent(config, offline=True)
    state = agent.init(jax.random.key(0), VECTOR)
    obs = jax.random.normal(jax.random.key(1), (64, 4))
    logits = state.apply_fn(state.params, obs).policy_logits
    np.testing.assert_array_equal(agent.act(state, obs, jax.random.key(2), 0.0), jnp.argmax(logits, -1))


def test_weight_decay_shrinks_weights_without_a_gradient():
    config = BCConfig(env="CartPole-v1", torso="mlp", weight_decay=0.5, optimizer="adam", max_grad_norm=None)
    agent = make_agent(config, offline=True)
    state = agent.init(jax.random.key(0), VECTOR)
    # No demonstrations in the batch: the bc term applies nowhere, only L2 moves the weights.
    new, _ = agent.update(state, _batch(VECTOR, demo=False))
    kernel = state.params["params"]["torso"]["Dense_0"]["kernel"]
    moved = new.params["params"]["torso"]["Dense_0"]["kernel"]
    assert float(jnp.abs(moved).sum()) < float(jnp.abs(kernel).sum())


def test_offline_and_online_phases_share_one_state():
    config = dataclasses.replace(
        DQN_CARTPOLE, loss="nstep=1,bc=1:100", pretrain_loss="bc=1", pretrain_updates=10, demos=("d",)
    )
    offline, online = make_agent(config, offline=True), make_agent(config)
    state = offline.init(jax.random.key(0), VECTOR)
    state, metrics = offline.update(state, _batch(VECTOR))
    assert "bc_loss" in metrics and "nstep_loss" not in metrics
    state, metrics = online.update(state, _batch(VECTOR))
    assert {"bc_loss", "nstep_loss"} <= set(metrics)
    assert int(state.updates) == 2
