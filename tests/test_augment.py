"""Random shifts: every output is a crop of the edge-padded input, within the pad, whole stacks at once."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from imitax.augment import random_shift, shift_transitions
from tests.test_losses import _transition


def test_shift_is_a_crop_of_the_edge_padded_stack():
    obs = jax.random.randint(jax.random.key(0), (16, 4, 12, 12), 0, 256).astype(jnp.uint8)
    shifted = np.asarray(random_shift(obs, jax.random.key(1), pad=2))
    padded = np.pad(np.asarray(obs), ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")
    offsets = []
    for i in range(16):
        found = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if np.array_equal(padded[i, :, dy : dy + 12, dx : dx + 12], shifted[i])
        ]
        assert found, f"example {i} is not a crop of its padded stack"
        offsets.append(found[0])
    assert len(set(offsets)) > 3  # examples get their own shifts
    assert shifted.dtype == np.uint8


def test_shift_depends_only_on_the_key():
    obs = jax.random.randint(jax.random.key(0), (8, 4, 12, 12), 0, 256).astype(jnp.uint8)
    a = random_shift(obs, jax.random.key(3), 4)
    np.testing.assert_array_equal(a, random_shift(obs, jax.random.key(3), 4))
    assert not np.array_equal(a, random_shift(obs, jax.random.key(4), 4))


def test_transitions_shift_every_observation_and_nothing_else():
    frames = jax.random.randint(jax.random.key(0), (2, 4, 12, 12), 0, 256).astype(jnp.uint8)
    batch = _transition(obs_tm1=frames, obs_t=frames, nstep_obs_t=frames)
    out = shift_transitions(batch, jax.random.key(5), pad=3)
    assert out.obs_tm1.shape == frames.shape
    for shifted in (out.obs_tm1, out.obs_t, out.nstep_obs_t):  # each observation moved, independently
        assert not np.array_equal(shifted, frames)
    assert not np.array_equal(out.obs_tm1, out.obs_t)
    np.testing.assert_array_equal(out.reward_t, batch.reward_t)
    np.testing.assert_array_equal(out.action_tm1, batch.action_tm1)
