"""A built-in expert as DAgger's oracle (Ross et al. 2011, "A Reduction of Imitation Learning and
Structured Prediction to No-Regret Online Learning"): the action it would take in any emulator state,
whatever policy brought the game there."""

from __future__ import annotations

from collections.abc import Sequence

import ale_py
import numpy as np

from imitax.envs import AtariEnv, AtariPreset
from imitax.experts.base import Expert, SightExpert
from imitax.experts.registry import make_expert, search_expert


class Oracle:
    """Labels emulator states, `batch` at a time, on private emulators (so no live game is touched).

    Args:
      game: the game the states come from.
      preset: its preset (sticky actions and the action set matter to the expert).
      expert: the expert's name (default: the game's search expert).
      batch: emulators labelled together per `expert.label` call.
    """

    def __init__(
        self, game: str, preset: str | AtariPreset = "nature", expert: str | None = None, batch: int = 8
    ):
        self.expert: Expert = make_expert(expert or search_expert(game), game)
        if isinstance(self.expert, SightExpert):  # a restored emulator state brings no frame stack
            raise ValueError(
                f"{self.expert.name} decides from observations, not emulator states: label stored "
                "observations with its label_observations"
            )
        self._envs = [AtariEnv(game, preset, training=False) for _ in range(max(1, batch))]

    def label(self, states: Sequence[ale_py.ALEState]) -> np.ndarray:
        """The expert's action (an index into the preset's action set) in each state, int32 (N,)."""
        labels = np.zeros(len(states), np.int32)
        size = len(self._envs)
        for begin in range(0, len(states), size):
            chunk = states[begin : begin + size]
            for env, state in zip(self._envs, chunk, strict=False):
                env.restore_state(state)
            labels[begin : begin + len(chunk)] = self.expert.label(self._envs[: len(chunk)])
        return labels
