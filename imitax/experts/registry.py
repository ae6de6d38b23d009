"""The expert registry: names, the games each plays, and the default expert of each game.

The defaults are the sight experts, which decide from the observation a learner receives, so a clone can
copy them; the search experts (RAM and look-ahead on cloned emulators) stay available by name as the
strongest players, and label emulator states (`Oracle`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from imitax.envs.games import canonical_game
from imitax.experts import breakout_sight, pong_sight
from imitax.experts.base import Expert
from imitax.experts.breakout import BreakoutSearchExpert
from imitax.experts.breakout_sight import BreakoutSightExpert
from imitax.experts.pong import PongSearchExpert
from imitax.experts.pong_sight import PongRecoveringExpert, PongSightExpert

_EXPERTS: dict[str, tuple[Callable[[], Expert], tuple[str, ...]]] = {
    expert.name: (expert, (expert.game,))
    for expert in (
        PongSightExpert,
        PongRecoveringExpert,
        BreakoutSightExpert,
        PongSearchExpert,
        BreakoutSearchExpert,
    )
}
_DEFAULTS = {"Pong": PongSightExpert.name, "Breakout": BreakoutSightExpert.name}
_SEARCH = {"Pong": PongSearchExpert.name, "Breakout": BreakoutSearchExpert.name}
_DECISIVE: dict[str, Callable[[np.ndarray], bool]] = {
    "Pong": pong_sight.decisive,
    "Breakout": breakout_sight.decisive,
}


def available_experts() -> dict[str, tuple[str, ...]]:
    """Expert name -> the games it plays."""
    return {name: games for name, (_, games) in _EXPERTS.items()}


def make_expert(name: str, game: str) -> Expert:
    """A new expert by registry name, for a game it plays (any common spelling of the game's name).

    Raises:
      ValueError: unknown expert, or a game the expert does not play; the message lists what exists.
    """
    if name not in _EXPERTS:
        raise ValueError(f"Unknown expert {name!r}; available experts: {_listing()}.")
    factory, games = _EXPERTS[name]
    canonical = canonical_game(game)
    if canonical not in games:
        raise ValueError(f"Expert {name!r} plays {', '.join(games)}, not {canonical}. Experts: {_listing()}.")
    return factory()


def default_expert(game: str) -> str:
    """Name of the default expert for a game: its sight expert.

    Raises:
      ValueError: no built-in expert plays the game.
    """
    return _DEFAULTS[_known(game)]


def search_expert(game: str) -> str:
    """Name of the game's search expert: the one that labels emulator states."""
    return _SEARCH[_known(game)]


def decisive_steps(game: str, stacks: np.ndarray) -> np.ndarray:
    """Which observation stacks (N, frame_stack, size, size) are decisive in the game, bool (N,): Pong's
    steps before the player's paddle meets the ball, Breakout's before the paddle meets a falling ball."""
    decisive = _DECISIVE[_known(game)]
    return np.array([decisive(stack) for stack in stacks], bool)


def _known(game: str) -> str:
    canonical = canonical_game(game)
    if canonical not in _DEFAULTS:
        raise ValueError(f"No built-in expert plays {canonical}; experts exist for {', '.join(_DEFAULTS)}.")
    return canonical


def _listing() -> str:
    return "; ".join(f"{name} ({', '.join(games)})" for name, games in available_experts().items())
