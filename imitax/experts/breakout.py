"""A Breakout expert that searches over its last moves before each return (see
`imitax.experts.search`).

How it plays: it serves (FIRE) when no ball is in play and moves its paddle under where the falling
ball will land (a RAM rule) until the ball is 3 steps above the paddle; then it tries every sequence
of {stay, right, left} for 3 steps (then stay) on a mirror emulator, and keeps the one whose return
scores the most points before the ball falls back below the bricks. Among returns that score the same
(often nothing, late in a wall) it chooses by a salted hash that changes every 256 frames, so the ball
does not circle forever through the same empty path past the last bricks.

Measured (nature preset, seeds 0-9, `benchmarks/demos.py`): mean 771.8; 8 games at 864 (both walls
cleared), 2 stuck at 403 in a cycle of two returns that every reachable hit position repeats (the
ball at full speed leaves the paddle the same way wherever it hits). About 175 steps/s while bricks
remain, 335 steps/s over whole recorded games (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import numpy as np

from imitax.experts.base import FIRE, LEFT, NOOP, RIGHT, Mirror
from imitax.experts.search import COMING, MISSED, RETURNED, ReturnSearchExpert, Value

BALL_X, BALL_Y, PADDLE_X, BALL_DY, BALL_DX = 99, 101, 72, 103, 105
LEFT_WALL, RIGHT_WALL = 56, 200  # the ball's x is mirrored about these
HIT_Y = 176  # typical ball y on the last step before the paddle returns it (170 to 181)
LAST_HIT_Y, MISSED_Y = 185, 190  # a falling ball beyond these can no longer be returned
RETURN_Y = 100  # a returned ball falling past here is below the bricks: its flight can score no more
FALL_PX_PER_STEP = {1: 4.0, 2: 8.0, 3: 13.5}  # by ram[BALL_DY], at frame skip 4
PADDLE_CENTER = 8  # ball x minus paddle x when the ball meets the paddle's middle


def falling(ram: np.ndarray) -> bool:
    return int(np.int8(ram[BALL_DY])) > 0


def fall_per_step(ram: np.ndarray) -> float:
    """Pixels a falling ball drops per agent step (frame skip 4), by its speed byte (measured)."""
    speed = int(np.int8(ram[BALL_DY]))
    return FALL_PX_PER_STEP.get(speed, 4.0 * speed)


def landing_x(ram: np.ndarray) -> int:
    """Where a falling ball will reach the paddle, mirrored at the side walls (x = 56 and 200); a
    rising ball's own x. About 4 px across per step per unit of ram[BALL_DX] (6 for some speeds)."""
    if not falling(ram):
        return int(ram[BALL_X])
    steps = max(HIT_Y - int(ram[BALL_Y]), 0) / fall_per_step(ram)
    x = int(ram[BALL_X]) - 4 * int(np.int8(ram[BALL_DX])) * steps  # a negative speed moves right
    period = 2 * (RIGHT_WALL - LEFT_WALL)
    x = (x - LEFT_WALL) % period  # unfold the bounces
    return round(LEFT_WALL + (x if x <= period / 2 else period - x))


def ball_in_play(ram: np.ndarray) -> bool:
    return int(ram[BALL_Y]) != 0


class BreakoutSearchExpert(ReturnSearchExpert):
    """Search over the last moves before each return; serve and follow the ball otherwise."""

    name = "breakout-search"
    game = "Breakout"
    moves = (NOOP, RIGHT, LEFT)
    player_bytes = (70, 72)

    def __init__(self, window: int = 3, depth: int = 3, horizon: int = 100):
        super().__init__(window, depth, horizon)

    def follow(self, ram: np.ndarray) -> int:
        if not ball_in_play(ram):
            return FIRE
        error = landing_x(ram) - PADDLE_CENTER - int(ram[PADDLE_X])
        if error > 6:
            return RIGHT
        if error < -6:
            return LEFT
        return NOOP

    def searching(self, ram: np.ndarray) -> bool:
        if not (ball_in_play(ram) and falling(ram)) or int(ram[BALL_Y]) > LAST_HIT_Y:
            return False
        return HIT_Y - int(ram[BALL_Y]) <= self.window * fall_per_step(ram)

    def phase(self, ram: np.ndarray, reward: float, lives_lost: bool) -> int:
        if lives_lost or not ball_in_play(ram) or (falling(ram) and int(ram[BALL_Y]) >= MISSED_Y):
            return MISSED
        return COMING if falling(ram) else RETURNED

    def judge(self, mirror: Mirror, frame_skip: int) -> Value:
        """(points scored before the returned ball falls back below the bricks,)."""
        points = 0.0
        for _ in range(self.horizon):
            points += mirror.step(NOOP, frame_skip)
            ram = mirror.ram()
            if not ball_in_play(ram) or (falling(ram) and int(ram[BALL_Y]) >= RETURN_Y):
                break
        return (int(points),)
