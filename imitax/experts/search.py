"""The search both paddle-game experts share: try every short sequence of moves before the ball reaches
the paddle, and judge each by what the return leads to.

Why this shape: ALE emulates Pong's and Breakout's paddle controllers, so the paddle answers a move late
and in coarse jumps, and where the ball meets the paddle (which sets its angle) depends on the exact
timing of the last few moves. A RAM rule cannot place the paddle that precisely; trying the moves on a
copy of the emulator can.

Each decision is a pure function of the emulator state:
- away from a return, a cheap rule on RAM (`follow`);
- in the last `window` steps before the return, an exhaustive search over `depth` moves (then staying)
  on a mirror emulator loaded with a clone of the env's state;
- once the ball has left the paddle the player cannot change what follows until it comes back, so that
  outcome is cached under the RAM with the player's paddle bytes zeroed (`player_bytes`);
- returns judged equal are chosen among by a hash of the ball's state after them, salted with the
  frame number (changing every 256 frames), so that long rallies do not loop.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

import ale_py
import numpy as np

from imitax.envs import AtariEnv
from imitax.experts.base import BoundedCache, Mirror, MirrorPool, action_index, check_game, label_all

COMING, MISSED, RETURNED = 0, 1, 2
Value = tuple[int, ...]  # compared as tuples: larger is better
MISS: Value = (0,)  # the value of a return starts with 1: any return beats a miss


class ReturnSearchExpert:
    """Base of the paddle-game experts; subclasses say how to read their game's RAM.

    Args:
      window: agent steps before the return in which to search (subclasses turn it into ball positions).
      depth: moves searched exhaustively (len(moves) ** depth sequences); the paddle then stays.
      horizon: agent steps simulated after a return to judge it.
    """

    name: ClassVar[str]
    game: ClassVar[str]
    moves: ClassVar[tuple[int, ...]]
    """Full-set ALE actions tried at each searched step, in order of preference."""
    player_bytes: ClassVar[tuple[int, ...]]
    """The RAM bytes the player's input changes (measured): zeroed in the outcome cache's keys."""

    def __init__(self, window: int = 4, depth: int = 3, horizon: int = 60):
        self.window, self.depth, self.horizon = window, depth, horizon
        self._mirrors = MirrorPool(self.game)
        self._outcomes = BoundedCache()

    # What a game says about itself.
    def follow(self, ram: np.ndarray) -> int:
        """The full-set action away from a return: a RAM rule."""
        raise NotImplementedError

    def searching(self, ram: np.ndarray) -> bool:
        """Whether the ball is in the window before a return."""
        raise NotImplementedError

    def phase(self, ram: np.ndarray, reward: float, lives_lost: bool) -> int:
        """COMING while the ball is on its way to the paddle, then MISSED or RETURNED."""
        raise NotImplementedError

    def judge(self, mirror: Mirror, frame_skip: int) -> Value:
        """The value of a return, from the step after it (the player's input no longer matters)."""
        raise NotImplementedError

    def good_enough(self, value: Value) -> bool:
        """A value that ends the search early (no better one is worth the time)."""
        return False

    # The search.
    def act(self, env: AtariEnv) -> int:
        check_game(self, env)
        ram = env.ale.getRAM()
        if not self.searching(ram):
            return action_index(env, self.follow(ram))
        return action_index(env, self._search(env))

    def label(self, envs: Sequence[AtariEnv]) -> np.ndarray:
        return label_all(self, envs)

    def _search(self, env: AtariEnv) -> int:
        """The first move of the best sequence (the first such move on exact ties)."""
        mirror = self._mirrors.load(env)
        # Constant through most approaches, never for long enough to let the play loop.
        salt = (env.ale.getEpisodeFrameNumber() // 256).to_bytes(8, "little")
        context = Context(env.preset.frame_skip, env.ale.lives(), salt)
        root = mirror.clone()
        best_move, best = self.moves[0], MISS
        for move in self.moves:
            value = self._after_move(mirror, root, move, self.depth, context)
            if value > best:
                best_move, best = move, value
            if self.good_enough(best):
                break
        return best_move

    def _after_move(
        self, mirror: Mirror, state: ale_py.ALEState, move: int, depth: int, context: Context
    ) -> Value:
        """Value of making `move` in `state`, then the best `depth - 1` moves, then staying."""
        mirror.restore(state)
        value = self._settled(mirror, mirror.step(move, context.frame_skip), context)
        if value is not None:
            return value
        if depth > 1:
            return self._best(mirror, mirror.clone(), depth - 1, context)
        for _ in range(self.window + 4):  # stay until the ball is returned or missed
            value = self._settled(mirror, mirror.step(self.moves[0], context.frame_skip), context)
            if value is not None:
                return value
        return MISS

    def _best(self, mirror: Mirror, state: ale_py.ALEState, depth: int, context: Context) -> Value:
        best = MISS
        for move in self.moves:
            best = max(best, self._after_move(mirror, state, move, depth, context))
            if self.good_enough(best):
                break
        return best

    def _settled(self, mirror: Mirror, reward: float, context: Context) -> Value | None:
        """The value once the ball has been returned or missed; None while it is still coming.

        A return's value ends with a salted hash of the ball's state after it, so that among returns
        judged equal the search picks a different one as the salt changes: no loop lasts.
        """
        ram = mirror.ram()
        phase = self.phase(ram, reward, mirror.ale.lives() < context.lives)
        if phase == COMING:
            return None
        if phase == MISSED:
            return MISS
        key = bytes([context.frame_skip]) + masked_ram(ram, self.player_bytes)
        if key not in self._outcomes:
            self._outcomes.put(key, self.judge(mirror, context.frame_skip))
        return (1, *self._outcomes[key], zlib.crc32(key + context.salt))


class Context(NamedTuple):
    """What a search needs from its root state."""

    frame_skip: int
    lives: int
    salt: bytes


def masked_ram(ram: np.ndarray, player_bytes: Sequence[int]) -> bytes:
    """RAM as a cache key with the bytes the player's input moves zeroed."""
    key = ram.copy()
    key[list(player_bytes)] = 0
    return key.tobytes()
