"""Atari game names: one canonical spelling, and a helpful error for unknown ones.

The canonical name is envpool's task name without the version ("Pong", "SpaceInvaders"); ale-py names
the same ROM in snake case ("space_invaders"). Users may type either, any case, with or without a
version or an "ALE/" prefix.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence

import ale_py


class UnknownGameError(ValueError):
    """Raised for a game name that no ROM matches."""


def _camel(rom_id: str) -> str:
    return "".join(part.capitalize() for part in rom_id.split("_"))


@functools.cache
def _rom_ids() -> dict[str, str]:
    """Maps canonical game names to ale-py ROM ids."""
    return {_camel(rom): rom for rom in ale_py.roms.get_all_rom_ids()}


def all_games() -> list[str]:
    """Every Atari game imitax knows, by canonical name."""
    return sorted(_rom_ids())


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical_game(name: str) -> str:
    """Returns the canonical name of an Atari game typed in any common spelling.

    Raises:
      UnknownGameError: no ROM matches; the message suggests the closest names.
    """
    stripped = re.sub(r"^(ALE/)", "", name.strip(), flags=re.IGNORECASE)
    stripped = re.sub(r"(NoFrameskip)?-v\d+$", "", stripped)
    by_key = {_key(game): game for game in _rom_ids()}
    if _key(stripped) in by_key:
        return by_key[_key(stripped)]
    close = difflib.get_close_matches(_key(stripped), by_key, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(by_key[c] for c in close)}?" if close else ""
    raise UnknownGameError(
        f"Unknown Atari game {name!r}.{hint} Run `imitax games` to list all {len(by_key)} games."
    )


def rom_id(game: str) -> str:
    """The ale-py ROM id of a game ("SpaceInvaders" -> "space_invaders")."""
    return _rom_ids()[canonical_game(game)]


def rom_path(game: str) -> str:
    """The path of a game's ROM file, as shipped with ale-py."""
    return str(ale_py.roms.get_rom_path(rom_id(game)))


def action_names(action_ids: list[int] | tuple[int, ...]) -> tuple[str, ...]:
    """Names of full-set ALE action ids (0 -> "NOOP", 1 -> "FIRE", ...)."""
    return tuple(ale_py.Action(int(a)).name for a in action_ids)


def nearest_action(vertical: str, horizontal: str, fire: bool, meanings: Sequence[str]) -> int | None:
    """Index of the action in `meanings` that keeps most of a control combination, or None.

    The combination is a vertical direction ("UP", "DOWN" or ""), a horizontal one ("RIGHT", "LEFT" or "")
    and FIRE. Preference when the game lacks the exact action: drop FIRE, then the vertical, then the
    horizontal direction, then keep a single part. Used to map keys (human play) and foreign actions
    (imported datasets) onto a game's action set.
    """
    f = "FIRE" if fire else ""
    for name in (
        vertical + horizontal + f,
        vertical + horizontal,
        horizontal + f,
        vertical + f,
        horizontal,
        vertical,
        f,
    ):
        if name and name in meanings:
            return list(meanings).index(name)
    return None
