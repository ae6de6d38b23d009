"""Q-networks: shapes, uint8 scaling inside the network, dueling aggregation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from imitax.networks import DuelingHead, NatureTorso, make_q_network, scale_q_values
from imitax.types import EnvSpec

ATARI = EnvSpec("Pong", (4, 84, 84), "uint8", 4, 6)
VECTOR = EnvSpec("CartPole-v1", (4,), "float32", None, 2)


@pytest.mark.parametrize("dueling", [False, True])
def test_nature_network_shapes(dueling):
    net = make_q_network(ATARI, dueling=dueling)
    obs = jnp.zeros((3, 4, 84, 84), jnp.uint8)
    params = net.init(jax.random.key(0), obs)
    assert net.apply(params, obs).q_values.shape == (3, 6)


def test_nature_torso_scales_uint8_frames():
    torso = NatureTorso()
    frames = jax.random.randint(jax.random.key(1), (2, 4, 84, 84), 0, 256).astype(jnp.uint8)
    params = torso.init(jax.random.key(0), frames)
    from_uint8 = torso.apply(params, frames)
    from_float = torso.apply(params, frames.astype(jnp.float32))
    np.testing.assert_allclose(from_uint8, from_float, rtol=1e-5)  # the same scaling either way
    assert torso.apply(params, frames).shape == (2, 512)


def test_mlp_network_for_vectors():
    net = make_q_network(VECTOR, mlp_sizes=(32, 16))
    obs = jnp.ones((5, 4))
    params = net.init(jax.random.key(0), obs)
    assert net.apply(params, obs).q_values.shape == (5, 2)
    sizes = [p.shape for p in jax.tree.leaves(params["params"]["torso"])]
    assert (4, 32) in sizes and (32, 16) in sizes


def test_dueling_head_is_value_plus_centred_advantage():
    """Shifting every advantage leaves Q unchanged; shifting the value shifts every Q (Wang et al. 2016)."""
    head = DuelingHead(num_actions=4, hidden_size=8)
    features = jax.random.normal(jax.random.key(0), (6, 10))
    params = head.init(jax.random.key(1), features)
    q = head.apply(params, features)

    def shifted(layer: str, by: float):
        p = jax.tree.map(lambda x: x, params)
        p["params"][layer]["bias"] = p["params"][layer]["bias"] + by
        return head.apply(p, features)

    np.testing.assert_allclose(shifted("advantage", 5.0), q, atol=1e-5)
    np.testing.assert_allclose(shifted("value", 5.0), q + 5.0, atol=1e-5)


@pytest.mark.parametrize("dueling", [False, True])
def test_scaled_q_values_are_a_multiple_with_the_same_greedy_policy(dueling):
    net = make_q_network(VECTOR, dueling=dueling, mlp_sizes=(16,), policy_head=True)
    obs = jax.random.normal(jax.random.key(0), (32, 4))
    params = net.init(jax.random.key(1), obs)
    before, after = net.apply(params, obs), net.apply(scale_q_values(params, 0.1), obs)
    np.testing.assert_allclose(after.q_values, 0.1 * before.q_values, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(after.q_values.argmax(-1), before.q_values.argmax(-1))
    np.testing.assert_array_equal(after.policy_logits, before.policy_logits)  # the policy head stays
    assert scale_q_values(params, 1.0) is params


def test_bad_torso_choice():
    with pytest.raises(ValueError, match="needs \\(stack, H, W\\)"):
        make_q_network(VECTOR, torso="nature")
    with pytest.raises(ValueError, match="unknown torso"):
        make_q_network(ATARI, torso="resnet")


def test_patch_and_xla_convolutions_agree():
    frames = jax.random.randint(jax.random.key(2), (3, 4, 84, 84), 0, 256).astype(jnp.uint8)
    patches, xla = NatureTorso(conv_impl="patches"), NatureTorso(conv_impl="xla")
    params = patches.init(jax.random.key(0), frames)
    np.testing.assert_allclose(patches.apply(params, frames), xla.apply(params, frames), rtol=1e-4, atol=1e-5)

    def grads(torso):
        return jax.grad(lambda p: torso.apply(p, frames).sum())(params)

    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4), grads(patches), grads(xla)
    )
