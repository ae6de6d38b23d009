"""Actions executed in place of the intended ones: the random presses of epsilon-greedy evaluation, of
DART's noisy demonstrations and of DAgger rounds with slips. The label stays the intended action."""

from __future__ import annotations

from typing import Literal

import numpy as np

NoiseKind = Literal["uniform", "other"]
"""uniform: any action, the intended one included (epsilon-greedy); other: never the intended one."""


def noisy_action(
    intended: int, num_actions: int, noise: float, kind: NoiseKind, rng: np.random.Generator
) -> int:
    """The action executed when `intended` is chosen and, with probability `noise`, a random one replaces
    it. Draws one uniform number every step (then one integer on a slip), whatever `noise` is."""
    if rng.random() >= noise:
        return intended
    if kind == "uniform":
        return int(rng.integers(num_actions))
    other = int(rng.integers(num_actions - 1))
    return other + (other >= intended)


def slipped_actions(
    intended: np.ndarray, num_actions: int, epsilon: float, rng: np.random.Generator
) -> np.ndarray:
    """`noisy_action`'s uniform case for a batch of envs stepped together: each action is replaced by a
    uniformly random one with probability `epsilon`. Draws nothing at epsilon 0, so a run without slips
    replays as it did before slips existed."""
    if epsilon == 0:
        return intended
    slips = rng.random(len(intended)) < epsilon
    return np.where(slips, rng.integers(num_actions, size=len(intended)), intended)
