"""Q-networks in flax linen: the Nature DQN torso, an MLP torso, plain and dueling heads.

Frames arrive as uint8 stacks (B, stack, H, W) and are scaled inside the network, so environments and
replay keep uint8 (four times less memory than float32).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from imitax.types import EnvSpec


class Conv(nn.Module):
    """A VALID, square-strided 2-D convolution on (B, H, W, C), with `nn.Conv`'s parameters.

    `impl="patches"` computes it as one matrix product over extracted patches (im2col). XLA on CPU
    leaves the gradient convolutions inside loop bodies in a form its fast kernels do not take and runs
    them 6-10 times slower than outside loops (jax issue #12868; measured here: 1.2 s against 0.15 s for a
    Nature-CNN gradient), which is where a compiled training loop runs them. Patches and a matmul have no
    such cliff, and give the same numbers. `impl="xla"` is the plain convolution (cuDNN on GPU);
    `"auto"` picks patches on CPU and xla elsewhere. The parameters are the same either way.
    """

    features: int
    kernel_size: int
    stride: int
    impl: str = "auto"
    input_scale: float = 1.0
    """The inputs' scale (1/255 for uint8 frames), applied to the product, where it is cheapest:
    (s x) @ W = s (x @ W). Patches are cut from the inputs as they come, so uint8 frames move as bytes."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, s = self.kernel_size, self.stride
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        impl = self.impl
        if impl == "auto":
            impl = "patches" if jax.default_backend() == "cpu" else "xla"
        if impl == "xla":
            y = jax.lax.conv_general_dilated(
                x.astype(kernel.dtype), kernel, (s, s), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            return self._scaled(y) + bias.reshape(1, 1, 1, -1)
        if impl != "patches":
            raise ValueError(f"unknown convolution impl {self.impl!r}; choose 'auto', 'patches' or 'xla'")
        rows, cols = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
        patches = jnp.concatenate(
            [
                x[:, i : i + s * (rows - 1) + 1 : s, j : j + s * (cols - 1) + 1 : s, :]
                for i in range(k)
                for j in range(k)
            ],
            axis=-1,
        )  # (B, rows, cols, k * k * C), ordered like the kernel's (k, k, C)
        y = patches.astype(kernel.dtype) @ kernel.reshape(-1, self.features)
        return self._scaled(y) + bias.reshape(1, 1, 1, -1)

    def _scaled(self, y: jax.Array) -> jax.Array:
        return y if self.input_scale == 1.0 else y * self.input_scale


class NatureTorso(nn.Module):
    """Mnih et al. 2015: three convolutions and a 512-unit layer, ReLU throughout."""

    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = jnp.transpose(obs, (0, 2, 3, 1))  # (B, H, W, stack), uint8
        x = nn.relu(Conv(32, 8, 4, self.conv_impl, input_scale=1 / 255)(x))
        x = nn.relu(Conv(64, 4, 2, self.conv_impl)(x))
        x = nn.relu(Conv(64, 3, 1, self.conv_impl)(x))
        x = x.reshape((x.shape[0], -1))
        return nn.relu(nn.Dense(512)(x))


class MLPTorso(nn.Module):
    """Fully connected ReLU layers for vector observations (CartPole-like tasks)."""

    hidden_sizes: Sequence[int] = (128, 128)

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = obs.reshape((obs.shape[0], -1)).astype(jnp.float32)
        for size in self.hidden_sizes:
            x = nn.relu(nn.Dense(size)(x))
        return x


class QHead(nn.Module):
    """One linear output per action."""

    num_actions: int

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        return nn.Dense(self.num_actions)(features)


class DuelingHead(nn.Module):
    """Wang et al. 2016, "Dueling Network Architectures": Q = V + A - mean(A)."""

    num_actions: int
    hidden_size: int = 512

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        hidden_v = nn.relu(nn.Dense(self.hidden_size, name="value_hidden")(features))
        hidden_a = nn.relu(nn.Dense(self.hidden_size, name="advantage_hidden")(features))
        value = nn.Dense(1, name="value")(hidden_v)  # (B, 1)
        advantage = nn.Dense(self.num_actions, name="advantage")(hidden_a)  # (B, A)
        return value + advantage - advantage.mean(axis=-1, keepdims=True)


class NetworkOutput(NamedTuple):
    """What a network computes for a batch of observations."""

    q_values: jax.Array
    """(B, num_actions)."""
    policy_logits: jax.Array | None
    """(B, num_actions) logits of a separate policy head; None without one (BC then reads Q-values)."""


class QNetwork(nn.Module):
    """A torso followed by a Q head and, optionally, a policy head on the same features."""

    torso: nn.Module
    head: nn.Module
    policy_head: nn.Module | None = None

    def __call__(self, obs: jax.Array) -> NetworkOutput:
        features = self.torso(obs)
        logits = self.policy_head(features) if self.policy_head is not None else None
        return NetworkOutput(self.head(features), logits)


def make_q_network(
    spec: EnvSpec,
    *,
    torso: str = "auto",
    dueling: bool = False,
    mlp_sizes: Sequence[int] = (128, 128),
    policy_head: bool = False,
) -> QNetwork:
    """Builds the Q-network for an environment.

    Args:
      spec: the environment; `num_actions` sizes the head.
      torso: "nature", "mlp", or "auto" (nature for frame stacks, mlp for vectors).
      dueling: use the dueling head instead of a linear one.
      mlp_sizes: hidden layer sizes of the MLP torso (and of the dueling streams after it).
      policy_head: add a linear policy head beside the Q head (for behaviour cloning's logits).
    """
    if torso == "auto":
        torso = "nature" if spec.frame_stack is not None else "mlp"
    if torso == "nature":
        if len(spec.obs_shape) != 3:
            raise ValueError(f"the nature torso needs (stack, H, W) observations, got {spec.obs_shape}")
        body: nn.Module = NatureTorso()
        hidden = 512
    elif torso == "mlp":
        body = MLPTorso(tuple(mlp_sizes))
        hidden = mlp_sizes[-1] if mlp_sizes else 64
    else:
        raise ValueError(f"unknown torso {torso!r}; choose 'nature', 'mlp' or 'auto'")
    head = DuelingHead(spec.num_actions, hidden) if dueling else QHead(spec.num_actions)
    policy = QHead(spec.num_actions) if policy_head else None
    return QNetwork(torso=body, head=head, policy_head=policy)


def scale_q_values(params: Any, factor: float) -> Any:
    """`params` of a `QNetwork` whose Q-values are `factor` times the given ones on every input: the Q
    head's output layers (weights and biases; for a dueling head, its value and advantage layers) are
    scaled, its hidden layers, the torso and any policy head are not. For `factor` > 0 the greedy policy
    is unchanged."""
    if factor == 1.0:
        return params
    head = params["params"]["head"]
    outputs = {"value", "advantage"} if "advantage" in head else set(head)
    scaled = {
        name: jax.tree.map(lambda x: x * factor, layer) if name in outputs else layer
        for name, layer in head.items()
    }
    return {**params, "params": {**params["params"], "head": scaled}}
