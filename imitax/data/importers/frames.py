"""How a recording becomes agent steps: the frame planning every importer shares.

An importer reads a source's rows (one per emulator frame or per decision: action, reward, game over) and the
raw screens shown between them, and makes the frames an imitax agent sees under a preset, exactly as
`imitax.envs.AtariEnv` would show them for the same emulator frames (`imitax.data.screens`).

How emulator frames become agent steps (`frame_skip` = k frames per step, as `AtariEnv.step` does): the
first observation is the first screen alone; step t repeats the action of its group's first frame (the one
the emulator applied first, chosen on the screen the player saw; a group whose frames carry several actions
is counted in the report as `mixed_action_steps`), its reward is the unclipped sum over the group, and its
observation is the max of the grayscale of the group's last two screens, resized. A game over inside a group
ends the step early, as in the environment (after 3 of 4 frames the step shows the third screen alone, after
1 or 2 the previous observation again). Every decision the source holds is kept, so an episode's return is the
game's score in the source: a recording that stops inside a group ends with a shorter step made the same way
as one a game over cuts short, and a source that does not say whether its last game ended (an AGC player who
quit, an Atari-HEAD trial stopped by time) ends the episode truncated. Only frames after a game over are left
out (`frames_dropped`). A source that kept one screen per decision only (Atari-HEAD, Minari at the preset's
frame skip) is planned by `plan_rows` instead: each step shows its one screen, without the max.

Each episode stores `extras["frame_number"]` (T+1: the dataset's frame number of the newest screen in each
observation) and, with `keep_rgb`, `extras["rgb"]` (T+1, 210, 160, 3): that raw screen. Labels are the
actions (a person's intention is what they pressed).

Planning (`plan_frames`, `plan_rows`, `finish_plan`) reads no screen: importers check whole recordings
before writing anything, and `build_episode` reads the screens of one planned episode at a time.
Holds too what the label-file parsers share (`read_lines`, `parse_action_id`) and the mapping of full-set
ALE actions onto the preset's action set (`ActionMap`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ale_py
import cv2
import numpy as np

from imitax.data.dataset import DatasetError, Episode
from imitax.data.importers.report import ImportReport
from imitax.data.screens import AleGrayscale, resize
from imitax.envs import EnvSpec
from imitax.envs.games import nearest_action

UNKNOWN_ACTION_MODES = ("error", "noop", "nearest")
SCREEN_SHAPE = (210, 160)


# ---------------------------------------------------------------------------------------------------------
# Label files and actions.


def read_lines(path: Path) -> list[str]:
    """The lines of a source's label file; a file that cannot be read is the dataset's error."""
    try:
        return path.read_text().splitlines()
    except OSError as err:
        raise DatasetError(f"{path} cannot be read: {err}") from None


def parse_action_id(text: str) -> int:
    """A label file's action: a full-set ALE action id (0-17). Raises ValueError, which the parsers turn into
    an error naming the line."""
    action = int(text)
    if not 0 <= action < 18:
        raise ValueError(f"action {action} is not a full-set ALE action id (0-17)")
    return action


def _action_name(action_id: int) -> str:
    return ale_py.Action(int(action_id)).name


def _nearest_action(name: str, meanings: Sequence[str]) -> int | None:
    """The game's action keeping most of the controls in an ALE action name (`nearest_action`'s order of
    preference, the one human play uses too), None for none."""
    vertical = next((v for v in ("UP", "DOWN") if v in name), "")
    horizontal = next((h for h in ("RIGHT", "LEFT") if h in name), "")
    return nearest_action(vertical, horizontal, "FIRE" in name, meanings)


class ActionMap:
    """Full-set ALE action ids -> indices into the preset's action set of the game."""

    def __init__(self, spec: EnvSpec, unknown_action: str, report: ImportReport):
        if unknown_action not in UNKNOWN_ACTION_MODES:
            raise ValueError(f"unknown_action must be one of {UNKNOWN_ACTION_MODES}, got {unknown_action!r}")
        self.spec = spec
        self.mode = unknown_action
        self.report = report
        self._index = {a: i for i, a in enumerate(spec.action_ids)}
        self._noop = self._index.get(0, 0)

    def __call__(self, action_id: int, where: str) -> int:
        if action_id in self._index:
            return self._index[action_id]
        name = _action_name(action_id)
        if self.mode == "error":
            assert self.spec.preset is not None
            raise DatasetError(
                f"{where}: action {action_id} ({name}) is not in {self.spec.name}'s action set under preset "
                f"{self.spec.preset.name!r} ({', '.join(self.spec.action_meanings)}). Import with "
                f"unknown_action='nearest' (the game's action keeping most of its controls) or 'noop', or "
                f"with preset='machado' (all 18 actions)."
            )
        self.report.unknown_actions[name] = self.report.unknown_actions.get(name, 0) + 1
        if self.mode == "nearest":
            index = _nearest_action(name, self.spec.action_meanings)
            return self._noop if index is None else index
        return self._noop


# ---------------------------------------------------------------------------------------------------------
# Step plans: which rows make each agent step, and which screens its observation.


@dataclass(frozen=True)
class Step:
    """One agent step of a recording: `length` action rows from `first`, and how its observation is made."""

    first: int
    length: int
    grabs: tuple[tuple[int, int], ...]  # (pool slot, screen index) taken in order
    pool: bool  # max the two slots after the grabs (a full frame-skip group)
    frame: int  # frame number of the observation's newest screen


def plan_frames(
    num_actions: int,
    over: np.ndarray,
    skip: int,
    last_screen: int,
    frame_of: Callable[[int], int] = int,
) -> tuple[list[Step], bool]:
    """Agent steps over one screen per emulator frame, as `AtariEnv.step` groups them.

    Screen n is what the emulator shows before action n; screen n+1 follows it, with reward n and game over
    `over[n]`. A recording that stops inside a group ends with a step of the frames it has, made like a step a
    game over cuts short. A screen past `last_screen` (one the recording did not keep: after a game over, or
    after its last action) is replaced by the last. `frame_of(n)` is screen n's frame number. Returns the
    steps and whether the last one ends in a game over.
    """
    steps: list[Step] = []
    n = 0
    while n < num_actions:
        grabs, left, i, game_over = [], skip, 0, False
        while left > 0 and not game_over and n + i < num_actions:  # AtariEnv.step's loop, frame by frame
            game_over = bool(over[n + i])
            i += 1
            if left <= 2:
                grabs.append((2 - left, min(n + i, last_screen)))
            left -= 1
        steps.append(Step(n, i, tuple(grabs), left == 0, frame_of(n + i)))
        n += i
        if game_over:
            return steps, True
    return steps, False


def plan_rows(
    num_rows: int, over: np.ndarray, rows_per_step: int, num_screens: int, frame_of: Callable[[int], int]
) -> tuple[list[Step], bool]:
    """Agent steps over one screen per decision (the frames in between were not kept): step t takes
    `rows_per_step` rows (the last step what is left) and shows the screen after them alone (no max: its
    predecessor is not there). Where the recording lacks that screen (after a game over, or after its last
    row), the last observation is shown again."""
    steps: list[Step] = []
    n = 0
    while n < num_rows:
        end = min(n + rows_per_step, num_rows)
        stop = next((j + 1 for j in range(n, end) if over[j]), None)
        length = end - n if stop is None else stop - n
        screen = n + length
        grabs = ((0, screen),) if screen < num_screens else ()
        steps.append(Step(n, length, grabs, False, frame_of(screen)))
        n += length
        if stop is not None:
            return steps, True
    return steps, False


# ---------------------------------------------------------------------------------------------------------
# Screens: where an episode's raw screens are read from.


class Screens:
    """The raw screens of one episode, by index: RGB (210, 160, 3) or ALE grayscale (210, 160)."""

    store: object = None  # what episodes may share (a trial's archive)

    def release(self) -> None:
        """Frees what `store` holds in memory."""

    def __len__(self) -> int:
        raise NotImplementedError

    def label(self, index: int) -> str:
        raise NotImplementedError

    def read(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def missing(self, indices: Sequence[int]) -> list[int]:
        return []


def decode_png(data: bytes | None, path: Path | None, label: str) -> np.ndarray:
    if path is not None:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    else:
        image = cv2.imdecode(np.frombuffer(data or b"", np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{label} cannot be read as an image (damaged or not a PNG).")
    if image.shape[:2] != SCREEN_SHAPE:
        raise DatasetError(f"{label} is {image.shape[1]}x{image.shape[0]}; Atari screens are 160x210.")
    return image[..., ::-1]  # BGR -> RGB


class FileScreens(Screens):
    def __init__(self, paths: list[Path | None], names: list[str]):
        self.paths, self.names = paths, names

    def __len__(self) -> int:
        return len(self.paths)

    def label(self, index: int) -> str:
        path = self.paths[index]
        return str(path) if path is not None else self.names[index]

    def read(self, index: int) -> np.ndarray:
        return decode_png(None, self.paths[index], self.label(index))

    def missing(self, indices: Sequence[int]) -> list[int]:
        return [i for i in indices if self.paths[i] is None]


class ArrayScreens(Screens):
    def __init__(self, screens: np.ndarray, name: str):
        self.screens, self.name = screens, name

    def __len__(self) -> int:
        return len(self.screens)

    def label(self, index: int) -> str:
        return f"{self.name}, observation {index}"

    def read(self, index: int) -> np.ndarray:
        return self.screens[index]


# ---------------------------------------------------------------------------------------------------------
# Planned episodes: actions mapped, rewards summed, screens checked; then their frames made.


@dataclass
class EpisodePlan:
    """One episode to write, checked and planned, its screens not read yet."""

    name: str
    screens: Screens
    steps: list[Step]
    terminated: bool
    actions: np.ndarray  # (T,) indices into the preset's action set
    rewards: np.ndarray  # (T,)
    first_frame: int  # frame number of screen 0
    mixed: int = 0
    step_extras: dict[str, np.ndarray] = field(default_factory=dict)  # per-step extras (T,)

    @property
    def screens_needed(self) -> list[int]:
        return [0, *(index for step in self.steps for _, index in step.grabs)]


def finish_plan(
    name: str,
    screens: Screens,
    steps: list[Step],
    terminated: bool,
    row_actions: np.ndarray,
    row_rewards: np.ndarray,
    first_frame: int,
    where: Callable[[int], str],
    actions: ActionMap,
    step_extras: dict[str, np.ndarray] | None = None,
) -> EpisodePlan:
    """Maps each step's action (its first row's) and sums its rewards; checks its screens exist."""
    step_actions = np.array([actions(int(row_actions[s.first]), where(s.first)) for s in steps], np.int64)
    rewards = np.array([row_rewards[s.first : s.first + s.length].sum() for s in steps], np.float64)
    mixed = sum(int(np.any(row_actions[s.first : s.first + s.length] != row_actions[s.first])) for s in steps)
    plan = EpisodePlan(
        name, screens, steps, terminated, step_actions, rewards, first_frame, mixed, step_extras or {}
    )
    missing = screens.missing(sorted(set(plan.screens_needed)))
    if missing:
        raise DatasetError(
            f"{name}: screen {screens.label(missing[0])} is missing ({len(missing)} of the "
            f"{len(set(plan.screens_needed))} screens this episode needs are missing)."
        )
    return plan


def build_episode(
    plan: EpisodePlan, to_gray: AleGrayscale, size: int, keep_rgb: bool, advance: Callable[[int], None]
) -> Episode:
    """Reads the planned screens and makes the episode's frames as `AtariEnv` would."""

    def gray_of(index: int) -> tuple[np.ndarray, np.ndarray | None]:
        screen = np.asarray(plan.screens.read(index))
        advance(1)
        if screen.shape == SCREEN_SHAPE:
            return screen.astype(np.uint8), None
        if screen.shape != (*SCREEN_SHAPE, 3):
            raise DatasetError(
                f"{plan.screens.label(index)}: a screen of shape {screen.shape}, want 210x160."
            )
        return to_gray(screen, plan.screens.label(index)), screen

    first, rgb = gray_of(0)
    slots = [first, np.zeros_like(first)]
    frames = [resize(first, size)]
    screens_rgb = [rgb]
    for step in plan.steps:
        for slot, index in step.grabs:
            slots[slot], rgb = gray_of(index)
        if step.pool:
            slots[0] = np.maximum(slots[0], slots[1])
        frames.append(resize(slots[0], size))
        screens_rgb.append(rgb)
    steps = len(plan.steps)
    ends = np.zeros(steps, bool)
    ends[-1:] = True
    extras: dict[str, np.ndarray] = {
        "frame_number": np.array([plan.first_frame] + [s.frame for s in plan.steps], np.int64),
        **plan.step_extras,
    }
    if keep_rgb and all(r is not None for r in screens_rgb):
        extras["rgb"] = np.stack(screens_rgb).astype(np.uint8)  # (T+1, 210, 160, 3)
    return Episode(
        frames=np.stack(frames).astype(np.uint8),
        actions=plan.actions,
        labels=plan.actions.copy(),
        rewards=plan.rewards,
        terminations=ends & plan.terminated,
        truncations=ends & (not plan.terminated),
        extras=extras,
    )
