"""A Breakout expert that decides from the observation alone: a pure function of the (4, 84, 84) stack.

Why: `BreakoutSearchExpert` reads RAM and searches cloned emulators, so a learner that sees only the
stack cannot copy it. This expert reads the same pixels the learner gets and nothing else (no RAM, no
emulator state, no memory across steps, no randomness), so every label is a function of the input.

How it plays: it serves (FIRE) when no ball shows in the play field of any of the 4 frames. A ball
below the bricks is located by its grey-weighted centroid (sub-pixel) in the newest frames; a rising
ball is followed in x. A falling ball's path is extended to the paddle's rows, unfolding bounces off
the side walls. The paddle is not a point to steer: the joystick pushes a hidden target that the
paddle chases with a lag, and one step of RIGHT moves it ~22 emulator units, more than its hit window
(~16). So the paddle's state (place, hidden target, width) is fitted to its blobs in the 4 frames by
simulating every recent-move hypothesis, and within 3 steps of the bounce every plan of {NOOP, RIGHT,
LEFT}^3 is simulated frame by frame; the first move of the plan that meets the ball with the most
margin (then nearest the paddle's middle) is taken, NOOP-first plans winning near-ties.

Measured (nature preset, `evaluate_expert`): see the session report; ~1,500 steps/s on one core.
Limits: no look-ahead over brick hits, so late in a wall the ball can settle into a brick-free cycle
(games then run to the time limit at ~380-415 points).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from imitax.experts.base import FIRE, LEFT, NOOP, RIGHT, SightExpert

# Layout of the 84x84 frame (measured on real frames; 210x160 screens resized with INTER_AREA).
FIELD_LEFT, FIELD_RIGHT = 4, 80  # columns between the side walls (0-3 and 80-83 are wall)
WALL_BLEED = 28.0  # columns 4 and 79 hold this much of the wall's grey on every play-field row
TOP_ROW = 13  # first row below the top wall
BRICK_ROWS = (22, 38)  # rows 22-37 hold the bricks (with their blurred edges)
PADDLE_ROW = 76  # the paddle covers rows 75-77, fully on row 76
BALL_LAST_ROW = 75  # the ball is searched above this row (the paddle's rows start here)
MIN_BALL_MASS = 60.0  # summed grey of a ball (one ball is ~185-370; less is edge noise)

PADDLE_GREY = 110.0  # the paddle's (and ball's) grey
WALL_LEFT, WALL_RIGHT = 56.0, 200.0  # the ball's x (emulator units) is mirrored about these


class Ball(NamedTuple):
    """The ball's centroid in the newest frame and its motion per agent step (84-scale pixels)."""

    y: float
    x: float
    dy: float
    dx: float


def field(frame: np.ndarray) -> np.ndarray:
    """A frame as float32 with the wall's bleed into the field's edge columns removed, so that the
    only grey left between the walls (off the brick band) is the ball's and the paddle's."""
    out = frame.astype(np.float32)
    for col in (FIELD_LEFT, FIELD_RIGHT - 1):
        out[:, col] = np.maximum(out[:, col] - WALL_BLEED, 0.0)
    return out


def ball_centroid(frame: np.ndarray) -> tuple[float, float] | None:
    """(row, column) of the ball's grey-weighted centroid in the open field below the bricks, or None
    when no ball shows there. Area-averaged grey makes the centroid sub-pixel accurate (~0.5 px)."""
    region = field(frame)[BRICK_ROWS[1] : BALL_LAST_ROW, FIELD_LEFT:FIELD_RIGHT]
    mass = float(region.sum())
    if mass < MIN_BALL_MASS:
        return None
    rows = np.arange(BRICK_ROWS[1], BALL_LAST_ROW, dtype=np.float32)
    cols = np.arange(FIELD_LEFT, FIELD_RIGHT, dtype=np.float32)
    y = float(region.sum(axis=1) @ rows) / mass
    x = float(region.sum(axis=0) @ cols) / mass
    return y, x


# A falling ball drops 4, 8 or 13.5 emulator units per agent step (its three speeds), in rows:
FALL_ROWS = (4.0 * 0.398, 8.0 * 0.398, 13.5 * 0.398)
CUT_ROW = 72.0  # a centroid below this row is biased up: the ball's lower part is in the paddle's rows


def ball_state(stack: np.ndarray) -> Ball | None:
    """The ball below the bricks in the newest frame, with its velocity per step; None when the
    newest frame shows no ball there. A falling ball's drop is snapped to its nearest known speed,
    and near the paddle (where the paddle's rows hide its lower part) its row is extrapolated from
    the frame before. Without an earlier sighting it is taken as falling slowly and straight."""
    now = ball_centroid(stack[-1])
    if now is None:
        return None
    before = ball_centroid(stack[-2])
    if before is None:
        return Ball(now[0], now[1], FALL_ROWS[0], 0.0)
    y, dy, dx = now[0], now[0] - before[0], now[1] - before[1]
    if now[0] > CUT_ROW:
        earlier = ball_centroid(stack[-3])
        if earlier is not None and before[0] <= CUT_ROW and before[0] > earlier[0]:
            dy = before[0] - earlier[0]
            y = before[0] + FALL_ROWS[int(np.argmin([abs(dy - v) for v in FALL_ROWS]))]
    if dy > 0:
        dy = FALL_ROWS[int(np.argmin([abs(dy - v) for v in FALL_ROWS]))]
    return Ball(y, now[1], dy, dx)


def paddle_edges(frame: np.ndarray) -> tuple[float, float] | None:
    """Sub-pixel (left, right) edges of the paddle's blob on its row, or None. The blob is the union
    of the paddle's places on the step's last two emulator frames (max-pooled); edge columns hold
    the covered fraction of the paddle's grey, which places the edges to ~0.05 px."""
    row = field(frame)[PADDLE_ROW, FIELD_LEFT:FIELD_RIGHT]
    cols = np.flatnonzero(row > 2.0)
    if cols.size == 0:
        return None
    first, last = int(cols[0]), int(cols[-1])
    left = FIELD_LEFT + first + 1.0 - min(row[first] / PADDLE_GREY, 1.0)
    right = FIELD_LEFT + last + min(row[last] / PADDLE_GREY, 1.0)
    return left, right


# Pixel to emulator units (fitted on logged games): the paddle's dynamics and the hit rule are
# simplest in the game's own coordinates, so pixel readings are converted to them.
def ram_x(col: float) -> float:
    return (col + 25.67) / 0.5247


def ram_y(row: float) -> float:
    return (row - 4.17) / 0.398


def paddle_left(col: float) -> float:
    return (col + 24.70) / 0.52506


def unfold(x: float) -> float:
    """A straight-line ball x (emulator units) folded back between the side walls it bounces off."""
    period = 2.0 * (WALL_RIGHT - WALL_LEFT)
    u = (x - WALL_LEFT) % period
    return WALL_LEFT + (u if u <= period / 2 else period - u)


def ball_seen(stack: np.ndarray) -> bool:
    """Whether any frame of the stack shows a ball anywhere in the play field (in the brick band it
    shows as grey rising over the previous frame)."""
    for k in range(stack.shape[0]):
        if ball_centroid(stack[k]) is not None:
            return True
        above = field(stack[k])[TOP_ROW : BRICK_ROWS[0], FIELD_LEFT:FIELD_RIGHT]
        if float(above.sum()) >= MIN_BALL_MASS:
            return True
    band = stack[:, BRICK_ROWS[0] : BRICK_ROWS[1], FIELD_LEFT + 1 : FIELD_RIGHT - 1].astype(np.int16)
    return bool((np.diff(band, axis=0) > 40).any())


# --- The paddle's dynamics (emulator units, per emulator frame; measured) ---------------------------
# The joystick moves a hidden target R by PUSH per frame (clamped to the paddle's range); the shown
# paddle P closes half its gap to R each frame, one frame late. So one agent step of RIGHT moves the
# paddle ~22 units (wider than its hit window of ~16): where it stops is quantised, and hitting a ball
# in the gaps needs the ball to meet the paddle while it moves, which is why the expert plans frames.
PUSH = 5.6
PADDLE_MIN, PADDLE_MAX = 55.0, 191.0
FRAMES_PER_STEP = 4
MOVES = (0, 1, -1)  # NOOP, RIGHT, LEFT as a direction of the push; also the canonical tie order
WIDTHS = (16.0, 8.0)  # the paddle halves after the ball reaches the top wall
RIGHT_CLIP = 79.5  # a blob edge at or past this column is cut by the right wall


def _hypotheses() -> tuple[np.ndarray, np.ndarray]:
    """Every explanation of the stack's paddle that the estimator weighs: the push on the frame that
    ends the oldest step, the gap R - P before it, and the three steps' moves since; as (inputs per
    frame (H, 13), starting gap (H,))."""
    inputs, gaps = [], []
    for u0 in MOVES:
        for gap in np.arange(-14.0, 14.5, 1.0):
            for a1 in MOVES:
                for a2 in MOVES:
                    for a3 in MOVES:
                        inputs.append([u0] + [a1] * 4 + [a2] * 4 + [a3] * 4)
                        gaps.append(gap)
    return np.array(inputs, np.float32), np.array(gaps, np.float32)


_INPUTS, _GAPS = _hypotheses()


def _simulate(
    p: np.ndarray, r: np.ndarray, inputs: np.ndarray, clamp: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Paddle places (H, F + 1), the start included, and the final target, for pushes (H, F)."""
    places = [p]
    for f in range(inputs.shape[1]):
        p = p + (r - p) / 2.0
        r = r + inputs[:, f] * PUSH
        if clamp:
            r = np.clip(r, PADDLE_MIN, PADDLE_MAX)
        places.append(p)
    return np.stack(places, axis=1), r


def _unclamped() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each hypothesis's places and targets relative to its start, unclamped (frames -1 .. 12), and
    its blobs' low and high ends on the stack's 4 frames (each the step's 3rd and 4th frame)."""
    places, targets = [np.zeros_like(_GAPS)], [_GAPS.copy()]
    p, r = places[0], targets[0]
    for f in range(_INPUTS.shape[1]):
        p = p + (r - p) / 2.0
        r = r + _INPUTS[:, f] * PUSH
        places.append(p)
        targets.append(r)
    rel, tgt = np.stack(places, axis=1), np.stack(targets, axis=1)
    pairs = np.array([(4 * k, 4 * k + 1) for k in range(4)])
    lo = np.minimum(rel[:, pairs[:, 0]], rel[:, pairs[:, 1]])
    hi = np.maximum(rel[:, pairs[:, 0]], rel[:, pairs[:, 1]])
    return rel, tgt, lo, hi, pairs


_REL, _TARGETS, _LO, _HI, _PAIRS = _unclamped()


class Paddle(NamedTuple):
    """The paddle's state after the newest frame: shown left edge, hidden target, width (units)."""

    p: float
    r: float
    width: float


def paddle_state(stack: np.ndarray) -> Paddle | None:
    """The paddle's dynamic state, fitted to its blobs in the 4 frames of the stack.

    Each frame's blob spans the paddle's places on its step's last two emulator frames; every
    hypothesis (recent pushes, starting gap, width) is simulated and shifted to fit the blobs' edges
    best; the best fit (first in canonical order on ties) gives the current place and target."""
    edges = [paddle_edges(frame) for frame in stack]
    if any(e is None for e in edges):
        return None
    lefts = np.array([paddle_left(e[0]) for e in edges], np.float32)
    rights = np.array([paddle_left(e[1]) for e in edges], np.float32)
    cut = np.array([e[1] >= RIGHT_CLIP for e in edges])
    best: tuple[float, Paddle] | None = None
    for width in WIDTHS:
        # Dynamics are shift-invariant away from the walls: fit each hypothesis's shift in least
        # squares to the left edges (and the right edges the wall does not cut).
        resid = np.concatenate([lefts[None, :] - _LO, rights[None, ~cut] - _HI[:, ~cut] - width], axis=1)
        shift = resid.mean(axis=1)
        err = ((resid - shift[:, None]) ** 2).sum(axis=1)
        i = int(np.argmin(err))
        p, r = float(shift[i] + _REL[i, -1]), float(shift[i] + _TARGETS[i, -1])
        if _TARGETS[i].min() + shift[i] < PADDLE_MIN or _TARGETS[i].max() + shift[i] > PADDLE_MAX:
            # Near a wall: the clamped target changes the fit, so refit every hypothesis with it.
            places, targets = _simulate(shift, shift + _GAPS, _INPUTS)
            lo = np.minimum(places[:, _PAIRS[:, 0]], places[:, _PAIRS[:, 1]])
            hi = np.maximum(places[:, _PAIRS[:, 0]], places[:, _PAIRS[:, 1]])
            err = ((lefts[None, :] - lo) ** 2).sum(axis=1)
            err += ((rights[None, ~cut] - hi[:, ~cut] - width) ** 2).sum(axis=1)
            i = int(np.argmin(err))
            p, r = float(places[i, -1]), float(targets[i])
        if best is None or err[i] < best[0] - 1e-3:
            best = (float(err[i]), Paddle(p, r, width))
    return best[1]


# --- Deciding -----------------------------------------------------------------------------------
BOUNCE_Y = (177.0, 183.0)  # ball y (units) on the frame the paddle returns it
HIT_WINDOW = 1.0  # a ball returns when ball x - paddle x is in [HIT_WINDOW, width + HIT_WINDOW]
SAFE = 3.0  # margin (units) inside the paddle beyond which a surer hit is not preferred
PLAN_STEPS = 3  # steps of moves planned frame by frame before a landing


def follow(paddle: Paddle, x: float, aim: float) -> int:
    """The move that brings the paddle's target nearest to putting x at the paddle's aim point."""
    goal = x - aim * paddle.width - HIT_WINDOW
    reach = PUSH * FRAMES_PER_STEP / 2
    if goal - paddle.r > reach:
        return RIGHT
    if goal - paddle.r < -reach:
        return LEFT
    return NOOP


def bounce_frame(ball: Ball) -> float:
    """The frame of a falling ball's bounce off the paddle's rows, counting the stack's newest step as
    frames 9-12."""
    return 11.5 + (BOUNCE_Y[0] - ram_y(ball.y)) / (ball.dy / 0.398 / FRAMES_PER_STEP)


def decisive(stack: np.ndarray) -> bool:
    """Whether the paddle meets a falling ball within `PLAN_STEPS` steps: the steps where a return is
    won or lost, which the planner decides."""
    ball = ball_state(stack)
    return ball is not None and ball.dy > 0 and bounce_frame(ball) <= 12 + FRAMES_PER_STEP * PLAN_STEPS


def plan(paddle: Paddle, ball: Ball, aim: float) -> int:
    """For a falling ball: the first move of the best plan of the next steps' moves, each scored by
    how far inside the paddle the ball lands (frame by frame, through the bounce rows)."""
    y, x = ram_y(ball.y), ram_x(ball.x)
    vy, vx = ball.dy / 0.398 / FRAMES_PER_STEP, ball.dx / 0.5247 / FRAMES_PER_STEP
    first = bounce_frame(ball)
    if first > 12 + FRAMES_PER_STEP * PLAN_STEPS:
        return follow(paddle, unfold(x + vx * (first - 11.5)), aim)
    frames = np.arange(13, 13 + FRAMES_PER_STEP * (PLAN_STEPS + 2))
    ys = y + vy * (frames - 11.5)
    inside = (ys >= BOUNCE_Y[0]) & (ys <= BOUNCE_Y[1] + 0.5)
    if not inside.any():
        inside = ys >= BOUNCE_Y[0]
    xs = np.array([unfold(x + vx * (f - 11.5)) for f in frames])
    n = len(MOVES) ** PLAN_STEPS
    seqs = np.array(np.meshgrid(*[MOVES] * PLAN_STEPS, indexing="ij")).reshape(PLAN_STEPS, n).T
    pushes = np.zeros((n, len(frames)), np.float32)
    for k in range(PLAN_STEPS):
        pushes[:, 4 * k : 4 * k + 4] = seqs[:, k : k + 1]
    places, _ = _simulate(np.full(n, paddle.p), np.full(n, paddle.r), pushes)
    offsets = xs[None, :] - places[:, 1:]  # ball x - paddle x on each future frame
    centre = HIT_WINDOW + paddle.width * aim
    # Margin inside the window on the first bounce frame where the ball is inside it, else minus
    # the nearest miss; the bounce happens on the first frame the paddle is under the ball.
    lo, hi = HIT_WINDOW, HIT_WINDOW + paddle.width
    margin = np.minimum(offsets - lo, hi - offsets)
    score = np.full(n, -1e9)
    for f in np.flatnonzero(inside):
        hit = (margin[:, f] >= 0) & (score < -1e8)
        # Safety first (margin up to SAFE units counts fully), then nearness to the aim point.
        score[hit] = np.minimum(margin[hit, f], SAFE) - 0.1 * np.abs(offsets[hit, f] - centre)
    miss = score < -1e8
    score[miss] = -100.0 + margin[miss][:, inside].max(axis=1)
    best = float(score.max())
    for i in range(n):  # canonical order: NOOP-first plans, then RIGHT, then LEFT
        if score[i] >= best - 0.2:
            return {0: NOOP, 1: RIGHT, -1: LEFT}[int(seqs[i, 0])]
    return NOOP


def bricks_x(frame: np.ndarray) -> float | None:
    """Mean x (emulator units) of the bricks left in the wall, weighted by their grey; None if none.
    Bricks and the gaps between them are the only things on the band's inner rows but the ball."""
    band = frame[BRICK_ROWS[0] + 1 : BRICK_ROWS[1] - 1, FIELD_LEFT + 1 : FIELD_RIGHT - 1].astype(np.float32)
    mass = band.sum(axis=0)
    total = float(mass.sum())
    if total < 1.0:
        return None
    return ram_x(float(mass @ np.arange(FIELD_LEFT + 1, FIELD_RIGHT - 1)) / total)


def aim_at_bricks(stack: np.ndarray, landing: float, side: float) -> float:
    """Where on the paddle (0 = left end, 1 = right end) to meet the ball: off-centre towards the
    side where the bricks' mean lies, which sends the ball that way (hits left of the paddle's middle
    return it leftwards, right of it rightwards). Depends on the frame alone, and as bricks go the
    aim shifts, which keeps the ball from settling into one path past the last bricks."""
    target = bricks_x(stack[-1])
    if target is None:
        return 0.5
    return 0.5 - side if target < landing else 0.5 + side


def decide(stack: np.ndarray, aim: float = 0.5, side: float = 0.0) -> int:
    """The full-set action for one observation stack (oldest frame first)."""
    ball = ball_state(stack)
    if ball is None:
        if not ball_seen(stack):
            return FIRE
        return NOOP
    paddle = paddle_state(stack)
    if paddle is None:
        return NOOP
    if ball.dy <= 0:
        return follow(paddle, ram_x(ball.x), aim)
    if side > 0:
        y, x = ram_y(ball.y), ram_x(ball.x)
        vy, vx = ball.dy / 0.398, ball.dx / 0.5247
        aim = aim_at_bricks(stack, unfold(x + vx * (BOUNCE_Y[0] - y) / vy), side)
    return plan(paddle, ball, aim)


class BreakoutSightExpert(SightExpert):
    """Plays Breakout from the observation stack alone (see the module docstring)."""

    name = "breakout-sight"
    game = "Breakout"

    def __init__(self, aim: float = 0.5, side: float = 0.0):
        self.aim = aim
        self.side = side

    def decide(self, stack: np.ndarray) -> int:
        return decide(stack, self.aim, self.side)
