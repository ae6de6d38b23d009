"""Image augmentation for value learning from frames.

Random shifts (Kostrikov, Yarats & Fergus 2021, "Image Augmentation Is All You Need: Regularizing Deep
Reinforcement Learning from Pixels", DrQ): pad each frame stack by a few pixels, repeating the edges,
and crop it back at a random offset. Q-learning on few samples then fits the value of the state rather
than the exact pixels, which is what makes small budgets work.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from imitax.types import Transition


def random_shift(obs: jax.Array, key: jax.Array, pad: int) -> jax.Array:
    """Shifts each (stack, H, W) observation of a batch by up to `pad` pixels each way, the same for
    all frames of a stack. obs: (B, stack, H, W) -> same shape and dtype."""
    batch, _, height, width = obs.shape
    padded = jnp.pad(obs, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    offsets = jax.random.randint(key, (batch, 2), 0, 2 * pad + 1)

    def crop(image: jax.Array, offset: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(image, (0, offset[0], offset[1]), (image.shape[0], height, width))

    return jax.vmap(crop)(padded, offsets)


def shift_transitions(batch: Transition, key: jax.Array, pad: int = 4) -> Transition:
    """Independent random shifts of every observation in a batch (as DrQ does for Q-learning)."""
    keys = jax.random.split(key, 3)
    return batch._replace(
        obs_tm1=random_shift(batch.obs_tm1, keys[0], pad),
        obs_t=random_shift(batch.obs_t, keys[1], pad),
        nstep_obs_t=random_shift(batch.nstep_obs_t, keys[2], pad),
    )
