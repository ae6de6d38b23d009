"""A Pong expert that sees only what a learner sees: every decision is a pure function of the (4, 84, 84)
observation stack. No RAM, no emulator state, no memory across steps, no randomness; ties go to NOOP.

Reading the frames (pure functions below, calibrated on real frames against the emulator's RAM):
- Each frame of the stack is the max of one agent step's last two emulator frames, grayscale, resized
  210x160 -> 84x84 with INTER_AREA. Area averaging keeps partial coverage at object edges, so intensity
  centroids place the ball to ~0.1 of Pong's own units ("RAM units") and a resting paddle exactly (its
  top is drawn on even rows only, so a paddle drawn at y is at y or y - 1).
- `ball_state` fits whole-unit position and speed (dy in -2..2) to the ball's blobs in the three newest
  frames, wall bounces included; `paddle_y` reads either paddle's top.

Pong's rules this expert relies on (measured): the paddle meets the ball at x = 188..191; the offset
ball y - paddle y there sets the return angle, -2..0 -> dy -2, 1..4 -> -1, 5..8 -> 0, 9..12 -> +1,
13..15 -> +2 (units a frame), anything else misses; the opponent chases the ball at 2 units on 7 frames
of 8 and returns it only if it ends within -3..13 of the ball, so only some steep returns beat it.

Deciding: for an incoming ball it values every whole paddle y by what a paddle resting there would do:
2 if its return beats the opponent (simulated frame by frame), 1 (a little more when the opponent only
just reaches it) if it returns the ball, 0 if it misses. The paddle cannot be aimed to a unit: it follows
a hidden potentiometer that one step of pressing moves ~22 units, and where it comes to rest scatters by
~4 (the game reads the potentiometer coarsely). But a resting paddle stays exactly put. So the expert
compares staying with pressing one or two steps (valued over the scatter of where the paddle would come
to rest) and takes the best, resting wherever a win is; when no rest returns the ball, it times a press
so the moving paddle meets it. While no ball comes it follows the ball's height (a dead band of 8 units):
this breaks up the rallies that would otherwise repeat (with it waiting calmly instead, 6 games in 30
stalled at the step limit), and it ties a third of the labels to what a clone sees first, the ball
against the paddle (about 30% of steps press, against 10% when waiting).

`pong-sight-recover` (PongRecoveringExpert) also takes back a press it did not choose (an evaluation's
random action, a DART slip, a sticky repeat) at once: when the paddle, resting, starts to move against
the decision the expert made a step before (recomputed from the stack's older frames), it presses the
other way. Waiting for the paddle to settle first lost most points at epsilon 0.05; without random or
sticky actions the rule never fires, so clean games are the same. It is not the default: with it the
main job's clones played worse (measured once, `benchmarks/RESULTS.md`).

Measured (`benchmarks/experts.py`, nature preset, 30 games, seeds 0-29): +21.0, every game 21-0 (both).
At the Nature agents' epsilon 0.05: pong-sight-recover +10.0 over those 30 games, every game won;
pong-sight -10.3 over 10 other games (seeds 777-786). Machado preset (sticky actions), 10 games, seeds
0-9: +18.1 (pong-sight-recover +17.7). ~1,200 steps/s.
"""

from __future__ import annotations

import functools

import numpy as np

from imitax.experts.base import LEFT, NOOP, RIGHT, SightExpert

PADDLE_UP, PADDLE_DOWN = RIGHT, LEFT  # Pong's paddle moves up on full-set RIGHT, down on LEFT

# Frame geometry (84x84 after INTER_AREA from 210 rows x 160 columns).
ROW_SCALE = 210 / 84  # raw rows per observation row
COL_SCALE = 160 / 84  # raw columns per observation column
BACKGROUND = 87.0  # the field's gray level
BALL_GRAY = 236.0  # the ball (and the walls)
PADDLE_GRAY = 147.5  # both paddles (147 and 148)
FIELD_ROWS = slice(14, 77)  # observation rows fully inside the field (raw rows 35..192)
FIELD_TOP_RAW, FIELD_BOTTOM_RAW = 35.0, 192.5
BALL_COLS = slice(11, 73)  # between the paddles' columns: there the ball is the only bright object
PLAYER_COL, OPPONENT_COL = 74, 9  # observation columns lying fully inside each paddle
ROW_OFFSET = 14.0  # RAM y = raw row of the object's top + 14 (ball and player's paddle)
OPPONENT_ROW_OFFSET = 15.0  # ... + 15 for the opponent's paddle
COL_OFFSET = 48.0  # RAM x = raw column of the ball's centre + 48
PADDLE_HEIGHT = 16.0  # raw rows
BALL_HEIGHT = 4.0  # raw rows
# A paddle pushed into a wall is drawn clipped; measured bias of the edge estimate there (RAM units).
TOP_CLIP_BIAS, BOTTOM_CLIP_BIAS = 0.0, -1.0

# Pong's own dynamics, in RAM units and emulator frames.
HIT_X = 188  # the first ball x at which the player's paddle can meet the ball
LAST_HIT_X = 191  # ... and the last (a late hit)
TOP_BOUNCE, BOTTOM_BOUNCE = 45, 206  # a ball at or past these turns on its next frame
FRAMES_PER_STEP = 4
TO_OPPONENT_FRAMES = 118  # frames from the player's return to the opponent's
OPPONENT_REACH = (-3, 13)  # the opponent returns a ball when ball y - its y ends in this range
# Offsets (ball y - paddle y at HIT_X) for each return angle dy, from the game's five bands.
ANGLE_OFFSETS = {-2: (-2, 0), -1: (1, 4), 0: (5, 8), 1: (9, 12), 2: (13, 15)}  # 16 returns only sometimes
MIDDLE_Y = 125.0


def ball_centroid(frame: np.ndarray) -> tuple[float, float] | None:
    """The ball's (x, y) in RAM units in one observation frame, or None when it is not between the paddles.

    A frame is the max of two emulator frames, so a moving ball shows as the union of two blobs; their
    centroid is the ball's position half a frame before the step ended."""
    region = frame[FIELD_ROWS, BALL_COLS].astype(np.float32)
    excess = np.clip((region - BACKGROUND) / (BALL_GRAY - BACKGROUND), 0.0, 1.0)
    mass = float(excess.sum())
    if mass < 0.3:  # a whole ball covers ~1.7 pixels' worth; less is a ball half hidden or none
        return None
    rows = np.arange(FIELD_ROWS.start, FIELD_ROWS.stop, dtype=np.float32) + 0.5
    cols = np.arange(BALL_COLS.start, BALL_COLS.stop, dtype=np.float32) + 0.5
    row_c = float((excess.sum(axis=1) * rows).sum()) / mass * ROW_SCALE
    col_c = float((excess.sum(axis=0) * cols).sum()) / mass * COL_SCALE
    return col_c + COL_OFFSET, row_c - BALL_HEIGHT / 2 + ROW_OFFSET


def paddle_y(frame: np.ndarray, col: int = PLAYER_COL) -> float | None:
    """The y (top, RAM units) of the paddle drawn in observation column `col`, or None if none is seen.

    Reads the column's coverage profile: its sum is the paddle's extent (16 raw rows; more while it
    moves, as the frame is the union of two), its centroid the paddle's centre. A paddle partly hidden
    in a wall is located by its visible edge."""
    column = frame[FIELD_ROWS, col].astype(np.float32)
    cover = np.clip((column - BACKGROUND) / (PADDLE_GRAY - BACKGROUND), 0.0, 1.0)
    mass = float(cover.sum())
    if mass < 0.5:
        return None
    rows = np.arange(FIELD_ROWS.start, FIELD_ROWS.stop, dtype=np.float32) + 0.5
    centre = float((cover * rows).sum()) / mass * ROW_SCALE
    extent = mass * ROW_SCALE
    top, bottom = centre - extent / 2, centre + extent / 2
    offset = ROW_OFFSET if col == PLAYER_COL else OPPONENT_ROW_OFFSET
    if top <= FIELD_TOP_RAW + 0.5 and extent < PADDLE_HEIGHT - 0.5:
        return bottom - PADDLE_HEIGHT + offset + TOP_CLIP_BIAS
    if bottom >= FIELD_BOTTOM_RAW - 0.5 and extent < PADDLE_HEIGHT - 0.5:
        return top + offset + BOTTOM_CLIP_BIAS
    return centre - PADDLE_HEIGHT / 2 + offset


def ball_step(y: int, dy: int) -> tuple[int, int]:
    """One frame of the ball's vertical motion: a ball at or past a wall turns, gaining one unit."""
    if dy < 0 and y <= TOP_BOUNCE:
        return y - dy + 1, -dy
    if dy > 0 and y >= BOTTOM_BOUNCE:
        return y - dy - 1, -dy
    return y + dy, dy


def ball_state(stack: np.ndarray) -> tuple[int, int, int, int] | None:
    """The ball's (x, y, dx, dy) on the newest step's last frame, in whole RAM units (the game's own).

    dx comes from the two newest frames (4 emulator frames apart). dy and y come from a fit: every
    whole-unit start (y, dy in -2..2) one or two steps back is played forward frame by frame, walls
    included, and the one whose blob centroids (mean of each step's last two frames) best match the
    frames wins; ties go to the first in a fixed order, so the answer is canonical."""
    now, before = ball_centroid(stack[-1]), ball_centroid(stack[-2])
    if now is None or before is None:
        return None
    dx = (now[0] - before[0]) / FRAMES_PER_STEP
    if abs(dx) < 0.5:
        return None
    dx = int(np.sign(dx)) * min((1, 2, 4), key=lambda s: abs(s - abs(dx)))
    older = ball_centroid(stack[-3])
    if older is not None and abs(before[0] - older[0] - FRAMES_PER_STEP * dx) > 3:
        older = None  # the ball was returned or served in between: not the same straight path
    seen = [c[1] for c in (older, before, now) if c is not None]
    steps = len(seen)
    best, best_err = (round(now[1]), 0), float("inf")
    start = round(seen[0])
    for y0 in range(start - 3, start + 4):
        for dy0 in (0, -1, 1, -2, 2):
            y, dy, err = y0, dy0, 0.0
            # seen[0] is the mean of frames -1 and 0 of its step; play on to the newest frame.
            for k in range(1, FRAMES_PER_STEP * (steps - 1) + 1):
                previous = y
                y, dy = ball_step(y, dy)
                if k % FRAMES_PER_STEP == 0:
                    err += abs((previous + y) / 2 - seen[k // FRAMES_PER_STEP])
            # the first blob: frames -1 and 0 of the oldest step
            first_prev = y0 - dy0 if TOP_BOUNCE < y0 - dy0 < BOTTOM_BOUNCE else y0
            err += abs((first_prev + y0) / 2 - seen[0])
            if err < best_err - 1e-6:
                best, best_err = (y, dy), err
    x = round(now[0] + dx / 2)  # the centroid is half a frame old
    return x, best[0], dx, best[1]


def incoming_hit(stack: np.ndarray) -> tuple[int, list[int]] | None:
    """For a ball coming at the player: (frames until it reaches HIT_X, its y on each frame it spends
    at HIT_X..LAST_HIT_X, where the paddle can meet it)."""
    state = ball_state(stack)
    if state is None or state[2] <= 0 or state[0] > HIT_X:
        return None
    x, y, dx, dy = state
    frames = 0
    while x < HIT_X:
        x += dx
        y, dy = ball_step(y, dy)
        frames += 1
    ys = []
    while x <= LAST_HIT_X:
        ys.append(y)
        x += dx
        y, dy = ball_step(y, dy)
    return frames, ys


DECISIVE_STEPS = 3  # agent steps before the paddle meets the ball: where a return is won or lost


def decisive(stack: np.ndarray) -> bool:
    """Whether the ball reaches the player's paddle within `DECISIVE_STEPS` steps: the steps where the
    expert's skill is (where to meet the ball decides the return's angle, and whether it wins)."""
    hit = incoming_hit(stack)
    return hit is not None and hit[0] <= DECISIVE_STEPS * FRAMES_PER_STEP


def return_angle(ys: list[int], paddle: int) -> tuple[int, int] | None:
    """(dy, y) of the return a paddle resting at `paddle` makes, or None if the ball passes it: the first
    frame on which the ball overlaps the paddle (offset -2..16) decides the angle by the offset's band."""
    for y in ys:
        offset = y - paddle
        for angle, (lo, hi) in ANGLE_OFFSETS.items():
            if lo <= offset <= hi:
                return angle, y
    return None


def chase(cpu: float, ball: int, frame: int) -> float:
    """One frame of the opponent's paddle: 2 units toward the ball, resting one frame in eight."""
    if frame % 8 == 7:
        return cpu
    if ball - cpu >= 2:
        return cpu + 2
    if ball - cpu <= -2:
        return cpu - 2
    return cpu


@functools.lru_cache(maxsize=1024)  # a step values ~30 paddle spots sharing a few returns: 4x fewer runs
def opponent_misses(y_hit: int, dy: int, cpu: float) -> float:
    """How far outside the opponent's reach a return from y_hit at angle dy arrives (> 0: it misses)."""
    y = y_hit
    for f in range(TO_OPPONENT_FRAMES):
        y, dy = ball_step(y, dy)
        cpu = chase(cpu, y, f)
    gap = y - cpu
    return max(OPPONENT_REACH[0] - gap, gap - OPPONENT_REACH[1])


def opponent_at_hit(stack: np.ndarray, frames: int, incoming_y: list[int]) -> float:
    """The opponent paddle's y when the ball reaches the player, chasing the incoming ball."""
    cpu = paddle_y(stack[-1], OPPONENT_COL)
    cpu = MIDDLE_Y if cpu is None else cpu
    for f, y in enumerate(incoming_y[:frames]):
        cpu = chase(cpu, y, f)
    return cpu


# Moving the paddle (measured from rest): the paddle closes half the distance to the potentiometer's
# reading every second frame; one step of pressing moves the reading ~22 units (21 to 24, more scatter
# near the walls), so a resting paddle can only be moved in ~22-unit jumps landing within a few units.
STRIKES = {1: (PADDLE_DOWN,), -1: (PADDLE_UP,), 2: (PADDLE_DOWN, PADDLE_DOWN), -2: (PADDLE_UP, PADDLE_UP)}
STRIKE_REACH = 22.0  # mean move of the resting place per step of pressing
LANDING_SPREAD = 4  # units either side of the mean landing, per step of pressing
PRESS_LAG = 20.0  # how much further a paddle goes after a long press ends
# Median paddle motion on the frames after a one-step press from rest, and its scatter (about one
# standard deviation): used to time a hit while the paddle moves.
PRESS_RESPONSE = (0, 0, 3, 6, 10, 15, 17, 19, 20, 21, 21, 22)
RESPONSE_SPREAD = (0, 1, 1, 2, 2, 3, 3, 3, 4)
SETTLE_STEPS = 3  # steps a paddle needs to come to rest after the last press
STAY_BONUS = 0.25  # what a press must gain over staying: no moves for a coin flip, few label flips
PADDLE_MIN, PADDLE_MAX = 38, 203  # the paddle's range
REST_TOLERANCE = 0.6  # RAM units between the two newest frames for the paddle to count as resting
WALL_CLEAR = 52  # a ball within 7 units of a wall, unless it runs flat along it, is not trusted


class PongSightExpert(SightExpert):
    """Rests its paddle where the return wins; otherwise where it surely comes back."""

    name = "pong-sight"
    game = "Pong"
    takes_back = False  # presses it did not choose (see `slipped`)

    def __init__(self, idle_band: float = 8.0, win_margin: float = 1.0, near_bonus: float = 0.5):
        self.idle_band = idle_band  # dead band for following the ball while none comes
        self.win_margin = win_margin  # a return wins if it lands this far out of the opponent's reach
        self.near_bonus = near_bonus  # extra worth of a return the opponent only just reaches

    def outcomes(self, stack: np.ndarray, hit: tuple[int, list[int]]) -> dict[int, float]:
        """For each whole paddle y near the ball's path: 2 if resting there wins the point, 1 to 1.5 if it
        returns the ball (more when the opponent only just reaches it), absent if it misses."""
        frames, ys = hit
        path, (_, y, _, dy) = [], ball_state(stack)
        for _ in range(frames):
            y, dy = ball_step(y, dy)
            path.append(y)
        cpu = opponent_at_hit(stack, frames, path)
        result = {}
        for paddle in range(min(ys) - 20, max(ys) + 6):
            ret = return_angle(ys, paddle)
            if ret is not None:
                angle, y_ret = ret
                miss = opponent_misses(y_ret, angle, cpu)
                # a return the opponent only just reaches is worth a little more: it breaks up rallies
                # that would repeat forever (the game and this expert are both deterministic)
                result[paddle] = (
                    2 if miss >= self.win_margin else 1 + self.near_bonus * min(max((miss + 8) / 8, 0), 1)
                )
        return result

    def plan(self, drawn: float, hit: tuple[int, list[int]], value: dict[int, float]) -> tuple[int, ...]:
        """The presses to make from a paddle resting where it is drawn (empty: stay), for a ball `hit`.

        Compares staying with a press of one or two steps, each valued by the mean worth (2 win, 1 return,
        0 miss) of where the paddle may come to rest (a spread of LANDING_SPREAD units about its mean
        move). The frame shows the paddle's top on even rows only, so a paddle drawn at y rests at y or
        y - 1. A press is made only if the paddle has time to settle, and only if it is clearly better."""
        steps_left = hit[0] // FRAMES_PER_STEP

        def worth(centre: float, spread: int) -> float:
            spots = range(round(centre) - 1 - spread, round(centre) + spread + 1)
            return sum(value.get(min(max(p, PADDLE_MIN), PADDLE_MAX), 0) for p in spots) / len(spots)

        best, best_worth = (), worth(drawn, 0) + STAY_BONUS
        for steps in (1, 2):
            if steps + SETTLE_STEPS > steps_left:
                break
            for sign in (1, -1):
                landing = worth(drawn + sign * steps * STRIKE_REACH, LANDING_SPREAD * steps)
                if landing > best_worth:
                    best, best_worth = STRIKES[sign * steps], landing
        return best

    def moving_hit(self, drawn: float, hit: tuple[int, list[int]], value: dict[int, float]) -> int:
        """For a resting paddle that would miss: press now if a one-step press started now meets the ball
        on its way (judged over the response's scatter) better than the same press started later."""
        frames = hit[0]

        def worth(direction: int, delay_steps: int) -> float:
            k = frames - 1 - FRAMES_PER_STEP * delay_steps
            if k < 0:
                return 0.0
            move = PRESS_RESPONSE[min(k, len(PRESS_RESPONSE) - 1)] * direction
            spread = RESPONSE_SPREAD[min(k, len(RESPONSE_SPREAD) - 1)]
            ys = range(round(drawn + move) - 1 - spread, round(drawn + move) + spread + 1)
            return sum(value.get(y, 0) for y in ys) / len(ys)

        best = (0.0, NOOP)
        for direction, action in ((1, PADDLE_DOWN), (-1, PADDLE_UP)):
            now_worth = worth(direction, 0)
            later = max((worth(direction, s) for s in range(1, frames // FRAMES_PER_STEP + 1)), default=0.0)
            if now_worth > later and now_worth > best[0]:
                best = (now_worth, action)
        return best[1]

    def decide(self, stack: np.ndarray) -> int:
        """The full-set ALE action for an observation stack: a pure function of the stack."""
        now, before, older = (paddle_y(stack[i]) for i in (-1, -2, -3))
        if now is None or before is None:
            return NOOP
        ball, ball_before = ball_centroid(stack[-1]), ball_centroid(stack[-2])
        hit = incoming_hit(stack)
        if hit is None:  # no ball coming: follow the ball's height
            gap = (MIDDLE_Y if ball is None else ball[1] - 7.0) - now
            if abs(gap) <= self.idle_band:
                return NOOP
            return PADDLE_DOWN if gap > 0 else PADDLE_UP
        at_wall = ball is not None and not WALL_CLEAR < ball[1] < BOTTOM_BOUNCE - WALL_CLEAR + TOP_BOUNCE
        if at_wall and (ball_before is None or abs(ball[1] - ball_before[1]) > 0.5):
            return NOOP  # a ball at a wall is partly hidden and may be turning: wait for a clean read
        resting = abs(now - before) < REST_TOLERANCE
        value = self.outcomes(stack, hit)
        if resting:
            presses = self.plan(now, hit, value)
            if presses:
                return presses[0]
            goal = self.nearest_goal(now, hit, value)
            if goal is not None and abs(goal - now) > 2 * STRIKE_REACH:  # far off: start moving
                return PADDLE_DOWN if goal > now else PADDLE_UP
            here = min(value.get(round(now) - 1, 0), value.get(round(now), 0))  # drawn y or one above
            return NOOP if here >= 1 else self.moving_hit(now, hit, value)
        direction = 1 if now > before else -1
        if self.takes_back and self.slipped(stack, direction, older, before):
            return PADDLE_UP if direction > 0 else PADDLE_DOWN  # take the press back at once
        # Moving: keep pressing while the place it would stop at is still a press short of the nearest
        # place worth going to (a win if there is time, else a return).
        speed = abs(now - before)
        stop = now + direction * (PRESS_LAG if speed > 12 else speed / 3)
        goal = self.nearest_goal(stop, hit, value)
        if goal is not None and (goal - stop) * direction > 0.75 * STRIKE_REACH:
            return PADDLE_DOWN if direction > 0 else PADDLE_UP
        if older is not None and abs(before - older) < REST_TOLERANCE:  # one step into a 2-press plan
            presses = self.plan(before, (hit[0] + FRAMES_PER_STEP, hit[1]), value)
            if len(presses) == 2 and (presses[0] == PADDLE_DOWN) == (direction > 0):
                return presses[1]
        return NOOP

    def slipped(self, stack: np.ndarray, direction: int, older: float | None, before: float) -> bool:
        """Whether the paddle, resting until the last step, was set moving by a press this expert did not
        choose (an evaluation's random action, DART noise, or a sticky repeat of its own earlier press)
        while a ball comes (`decide` asks only then).

        The expert's decision one step back is recomputed rather than remembered: a decision taken at rest
        reads only the three newest frames of its stack, here the three older ones. Pressing the other way
        at once brings the potentiometer back by about the slip's ~22 units; waiting for the paddle to
        settle first leaves too few steps to reach the ball (at epsilon 0.05 most lost points came 3-10
        steps after a slip). Without random or sticky actions this never fires: a resting paddle moves
        only when pressed."""
        oldest = paddle_y(stack[-4]) if len(stack) >= 4 else None
        if older is None or oldest is None or abs(before - older) >= REST_TOLERANCE:
            return False
        if (older - oldest) * direction <= -REST_TOLERANCE:
            return False  # not a rest but a turn: a paddle reversing shows one still frame
        intended = self.decide(stack[:-1])
        return intended != (PADDLE_DOWN if direction > 0 else PADDLE_UP)

    def nearest_goal(self, y: float, hit: tuple[int, list[int]], value: dict[int, float]) -> float | None:
        """The nearest paddle y that wins (when there are steps enough to get there), else that returns."""
        steps_left = hit[0] // FRAMES_PER_STEP
        for worth in (2, 1):
            spots = [p for p, v in value.items() if v >= worth]
            if spots:
                spot = min(spots, key=lambda p: (abs(p - y), p))
                if worth == 1 or abs(spot - y) / STRIKE_REACH + SETTLE_STEPS + 1 <= steps_left:
                    return float(spot)
        return None


class PongRecoveringExpert(PongSightExpert):
    """pong-sight that takes back, at once, a press it did not choose (`slipped`): it keeps winning
    under an evaluation's random actions."""

    name = "pong-sight-recover"
    takes_back = True
