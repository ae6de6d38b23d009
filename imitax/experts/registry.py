"""The expert registry: names, the games each plays, and the default expert of each game."""

from __future__ import annotations

from collections.abc import Callable

from imitax.envs.games import canonical_game
from imitax.experts.base import Expert
from imitax.experts.breakout import BreakoutSearchExpert
from imitax.experts.pong import PongSearchExpert

_EXPERTS: dict[str, tuple[Callable[[], Expert], tuple[str, ...]]] = {
    PongSearchExpert.name: (PongSearchExpert, (PongSearchExpert.game,)),
    BreakoutSearchExpert.name: (BreakoutSearchExpert, (BreakoutSearchExpert.game,)),
}
_DEFAULTS = {"Pong": PongSearchExpert.name, "Breakout": BreakoutSearchExpert.name}


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
    """Name of the default expert for a game.

    Raises:
      ValueError: no built-in expert plays the game.
    """
    canonical = canonical_game(game)
    if canonical not in _DEFAULTS:
        raise ValueError(f"No built-in expert plays {canonical}; experts exist for {', '.join(_DEFAULTS)}.")
    return _DEFAULTS[canonical]


def _listing() -> str:
    return "; ".join(f"{name} ({', '.join(games)})" for name, games in available_experts().items())
