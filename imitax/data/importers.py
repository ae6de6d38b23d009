"""Importers of public human Atari datasets into imitax's demonstration datasets (`imitax.data.dataset`).

Each importer turns the raw screens of a recording into the frames an imitax agent sees under a preset,
exactly as `imitax.envs.AtariEnv` would show them for the same emulator frames (`imitax.data.screens`):

- `import_agc`: the Atari Grand Challenge dataset (Kurin et al. 2017, "The Atari Grand Challenge
  Dataset", arXiv:1705.10998), one text row and one PNG screen per 60 Hz emulator frame.
- `import_atari_head`: Atari-HEAD (Zhang et al. 2019, "Atari-HEAD: Atari Human Eye-Tracking and
  Demonstration Dataset", arXiv:1903.06754), one row, one PNG screen and the gaze per decision.
- `import_minari`: a Minari dataset of ALE screens (e.g. `minari.DataCollector` on `ALE/Pong-v5` with
  `frameskip=1`), or of frames already preprocessed.

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
out (`frames_dropped`).

Each episode stores `extras["frame_number"]` (T+1: the dataset's frame number of the newest screen in each
observation) and, with `keep_rgb`, `extras["rgb"]` (T+1, 210, 160, 3): that raw screen; Atari-HEAD episodes
also keep the gaze (read it with `episode_gaze`) and `duration_ms`. Labels are the actions (a person's
intention is what they pressed).

Nothing is half-written: AGC and Atari-HEAD imports read and check every label file, action and screen file
before writing (screens inside an archive, and Minari episodes, are checked as they are read), and any
failure removes everything the call created. An existing dataset at `out` is never touched.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ale_py
import cv2
import numpy as np

from imitax.data.dataset import (
    DATA_DIR,
    METADATA_FILE,
    DatasetError,
    DatasetWriter,
    Episode,
    Source,
    action_index_map,
    check_compatible,
)
from imitax.data.screens import AleGrayscale, resize
from imitax.envs import AtariPreset, EnvSpec, atari_spec, canonical_game, get_preset
from imitax.envs.games import nearest_action

Progress = Callable[[int, int], None]
"""Called as progress(done, total): screens read so far and in all (AGC, Atari-HEAD), or episodes (Minari)."""

UNKNOWN_ACTION_MODES = ("error", "noop", "nearest")
SCREEN_SHAPE = (210, 160)

__all__ = [
    "AGC_GAMES",
    "ImportReport",
    "episode_gaze",
    "import_agc",
    "import_atari_head",
    "import_minari",
]


@dataclass
class ImportReport:
    """What an import wrote, and everything it had to decide or leave out."""

    source: str
    """"agc", "atari-head" or "minari"."""
    game: str
    preset: str
    out: Path
    episodes: int = 0
    steps: int = 0
    scores: list[float] = field(default_factory=list)
    """Unclipped score of each written episode."""
    episode_names: list[str] = field(default_factory=list)
    """Where each written episode came from ("trajectory 12", "trial 55_RZ_... episode 3")."""
    terminated: int = 0
    truncated: int = 0
    frames_dropped: int = 0
    """Emulator frames of the recordings left out: those after a game over."""
    mixed_action_steps: int = 0
    """Steps whose frames carried more than one action (the first one is kept)."""
    unknown_actions: dict[str, int] = field(default_factory=dict)
    """Steps whose action the game lacks, by ALE action name (mapped as `unknown_action` says)."""
    skipped_episodes: int = 0
    """Episodes with no step, not written."""
    pixels: int = 0
    off_palette_pixels: int = 0
    """Pixels whose colour is not in ALE's palette (see `imitax.data.screens.AleGrayscale`)."""
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"{self.source} -> {self.out}: {self.game}, preset {self.preset!r}, {self.episodes} episodes, "
            f"{self.steps} steps ({self.terminated} ended by a game over, {self.truncated} truncated)",
        ]
        if self.scores:
            lines.append(
                f"  scores: mean {np.mean(self.scores):.1f}, min {min(self.scores):g}, "
                f"max {max(self.scores):g}"
            )
        if self.frames_dropped or self.skipped_episodes:
            lines.append(f"  left out: {self.frames_dropped} frames, {self.skipped_episodes} empty episodes")
        if self.mixed_action_steps:
            lines.append(
                f"  {self.mixed_action_steps} steps had several actions in their frames (kept the first)"
            )
        if self.unknown_actions:
            lines.append(f"  actions the game lacks: {self.unknown_actions}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Shared machinery: actions, step plans, screens, writing.


def _action_name(action_id: int) -> str:
    return ale_py.Action(int(action_id)).name


def _nearest_action(name: str, meanings: Sequence[str]) -> int | None:
    """The game's action keeping most of the controls in an ALE action name (`nearest_action`'s order of
    preference, the one human play uses too), None for none."""
    vertical = next((v for v in ("UP", "DOWN") if v in name), "")
    horizontal = next((h for h in ("RIGHT", "LEFT") if h in name), "")
    return nearest_action(vertical, horizontal, "FIRE" in name, meanings)


class _ActionMap:
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


@dataclass(frozen=True)
class _Step:
    """One agent step of a recording: `length` action rows from `first`, and how its observation is made."""

    first: int
    length: int
    grabs: tuple[tuple[int, int], ...]  # (pool slot, screen index) taken in order
    pool: bool  # max the two slots after the grabs (a full frame-skip group)
    frame: int  # frame number of the observation's newest screen


def _plan_frames(
    num_actions: int,
    over: np.ndarray,
    skip: int,
    last_screen: int,
    frame_of: Callable[[int], int] = int,
) -> tuple[list[_Step], bool]:
    """Agent steps over one screen per emulator frame, as `AtariEnv.step` groups them.

    Screen n is what the emulator shows before action n; screen n+1 follows it, with reward n and game over
    `over[n]`. A recording that stops inside a group ends with a step of the frames it has, made like a step a
    game over cuts short. A screen past `last_screen` (one the recording did not keep: after a game over, or
    after its last action) is replaced by the last. `frame_of(n)` is screen n's frame number. Returns the
    steps and whether the last one ends in a game over.
    """
    steps: list[_Step] = []
    n = 0
    while n < num_actions:
        grabs, left, i, game_over = [], skip, 0, False
        while left > 0 and not game_over and n + i < num_actions:  # AtariEnv.step's loop, frame by frame
            game_over = bool(over[n + i])
            i += 1
            if left <= 2:
                grabs.append((2 - left, min(n + i, last_screen)))
            left -= 1
        steps.append(_Step(n, i, tuple(grabs), left == 0, frame_of(n + i)))
        n += i
        if game_over:
            return steps, True
    return steps, False


def _plan_rows(
    num_rows: int, over: np.ndarray, rows_per_step: int, num_screens: int, frame_of: Callable[[int], int]
) -> tuple[list[_Step], bool]:
    """Agent steps over one screen per decision (the frames in between were not kept): step t takes
    `rows_per_step` rows (the last step what is left) and shows the screen after them alone (no max: its
    predecessor is not there). Where the recording lacks that screen (after a game over, or after its last
    row), the last observation is shown again."""
    steps: list[_Step] = []
    n = 0
    while n < num_rows:
        end = min(n + rows_per_step, num_rows)
        stop = next((j + 1 for j in range(n, end) if over[j]), None)
        length = end - n if stop is None else stop - n
        screen = n + length
        grabs = ((0, screen),) if screen < num_screens else ()
        steps.append(_Step(n, length, grabs, False, frame_of(screen)))
        n += length
        if stop is not None:
            return steps, True
    return steps, False


class _Screens:
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


def _decode_png(data: bytes | None, path: Path | None, label: str) -> np.ndarray:
    if path is not None:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    else:
        image = cv2.imdecode(np.frombuffer(data or b"", np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{label} cannot be read as an image (damaged or not a PNG).")
    if image.shape[:2] != SCREEN_SHAPE:
        raise DatasetError(f"{label} is {image.shape[1]}x{image.shape[0]}; Atari screens are 160x210.")
    return image[..., ::-1]  # BGR -> RGB


class _FileScreens(_Screens):
    def __init__(self, paths: list[Path | None], names: list[str]):
        self.paths, self.names = paths, names

    def __len__(self) -> int:
        return len(self.paths)

    def label(self, index: int) -> str:
        path = self.paths[index]
        return str(path) if path is not None else self.names[index]

    def read(self, index: int) -> np.ndarray:
        return _decode_png(None, self.paths[index], self.label(index))

    def missing(self, indices: Sequence[int]) -> list[int]:
        return [i for i in indices if self.paths[i] is None]


class _ArrayScreens(_Screens):
    def __init__(self, screens: np.ndarray, name: str):
        self.screens, self.name = screens, name

    def __len__(self) -> int:
        return len(self.screens)

    def label(self, index: int) -> str:
        return f"{self.name}, observation {index}"

    def read(self, index: int) -> np.ndarray:
        return self.screens[index]


@dataclass
class _EpisodePlan:
    """One episode to write, checked and planned, its screens not read yet."""

    name: str
    screens: _Screens
    steps: list[_Step]
    terminated: bool
    actions: np.ndarray  # (T,) indices into the preset's action set
    rewards: np.ndarray  # (T,)
    first_frame: int  # frame number of screen 0
    mixed: int = 0
    step_extras: dict[str, np.ndarray] = field(default_factory=dict)  # per-step extras (T,)

    @property
    def screens_needed(self) -> list[int]:
        return [0, *(index for step in self.steps for _, index in step.grabs)]


def _finish_plan(
    name: str,
    screens: _Screens,
    steps: list[_Step],
    terminated: bool,
    row_actions: np.ndarray,
    row_rewards: np.ndarray,
    first_frame: int,
    where: Callable[[int], str],
    actions: _ActionMap,
    step_extras: dict[str, np.ndarray] | None = None,
) -> _EpisodePlan:
    """Maps each step's action (its first row's) and sums its rewards; checks its screens exist."""
    step_actions = np.array([actions(int(row_actions[s.first]), where(s.first)) for s in steps], np.int64)
    rewards = np.array([row_rewards[s.first : s.first + s.length].sum() for s in steps], np.float64)
    mixed = sum(int(np.any(row_actions[s.first : s.first + s.length] != row_actions[s.first])) for s in steps)
    plan = _EpisodePlan(
        name, screens, steps, terminated, step_actions, rewards, first_frame, mixed, step_extras or {}
    )
    missing = screens.missing(sorted(set(plan.screens_needed)))
    if missing:
        raise DatasetError(
            f"{name}: screen {screens.label(missing[0])} is missing ({len(missing)} of the "
            f"{len(set(plan.screens_needed))} screens this episode needs are missing)."
        )
    return plan


def _build_episode(
    plan: _EpisodePlan, to_gray: AleGrayscale, size: int, keep_rgb: bool, advance: Callable[[int], None]
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


@contextlib.contextmanager
def _progress(
    progress: bool | Progress | None, total: int, description: str
) -> Iterator[Callable[[int], None]]:
    if not progress:
        yield lambda n: None
    elif progress is True:
        from rich.progress import Progress as RichProgress

        with RichProgress() as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
    else:
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            progress(done, total)

        yield advance


def _check_out(out: Path) -> None:
    """Refuses an `out` that holds anything, before any work (the writer checks again)."""
    if (out / DATA_DIR / METADATA_FILE).exists():
        raise DatasetError(f"{out} already holds a dataset; choose another path (imports never append).")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} exists and is not an empty directory; choose an empty or new path.")


def _write(
    out: Path,
    spec: EnvSpec,
    source: Source,
    report: ImportReport,
    total: int,
    progress: bool | Progress | None,
    episodes: Callable[[Callable[[int], None]], Iterator[tuple[str, Episode]]],
    to_gray: AleGrayscale | None = None,
) -> None:
    """Writes the episodes `episodes(advance)` yields, one at a time; on any failure removes what this call
    created, and only that (never a dataset that was there before: `_check_out` and the writer refuse it)."""
    assert spec.preset is not None
    created = out
    while not created.parent.exists():  # the top-most folder this call creates
        created = created.parent
    existed = out.exists()
    try:
        writer = DatasetWriter(out, spec=spec, source=source)
        with _progress(progress, total, f"importing {source.name}") as advance:
            for name, episode in episodes(advance):
                writer.add(episode)
                report.episodes += 1
                report.steps += episode.num_steps
                report.scores.append(episode.score)
                report.episode_names.append(name)
                report.terminated += int(episode.terminations[-1])
                report.truncated += int(not episode.terminations[-1])
                if episode.num_steps > spec.preset.max_episode_steps:
                    report.warnings.append(
                        f"{name} has {episode.num_steps} steps, more than the preset's limit of "
                        f"{spec.preset.max_episode_steps} (the environment would truncate it)"
                    )
        if not report.episodes:
            raise DatasetError("nothing to import: no episode has an agent step.")
    except BaseException:
        shutil.rmtree(out / DATA_DIR if existed else created, ignore_errors=True)
        raise
    if to_gray is not None:
        report.pixels, report.off_palette_pixels = to_gray.pixels, to_gray.off_pixels
        warning = to_gray.summary()
        if warning:
            report.warnings.append(warning)
    if report.unknown_actions:
        report.warnings.append(
            f"{sum(report.unknown_actions.values())} steps used actions {spec.name} lacks "
            f"under preset {spec.preset.name!r}: {report.unknown_actions}"
        )


def _episode_of(
    plan: _EpisodePlan,
    to_gray: AleGrayscale,
    size: int,
    keep_rgb: bool,
    report: ImportReport,
    advance: Callable[[int], None],
) -> Iterator[tuple[str, Episode]]:
    """The planned episode, its screens read (none if it has no step)."""
    if not plan.steps:
        report.skipped_episodes += 1
        return
    report.mixed_action_steps += plan.mixed
    yield plan.name, _build_episode(plan, to_gray, size, keep_rgb, advance)


def _built(
    plans: list[_EpisodePlan], to_gray: AleGrayscale, size: int, keep_rgb: bool, report: ImportReport
) -> Callable[[Callable[[int], None]], Iterator[tuple[str, Episode]]]:
    """The episodes of `plans`, their screens read one episode at a time (progress counts screens)."""

    def episodes(advance: Callable[[int], None]) -> Iterator[tuple[str, Episode]]:
        for i, plan in enumerate(plans):
            yield from _episode_of(plan, to_gray, size, keep_rgb, report, advance)
            if i + 1 < len(plans) and plans[i + 1].screens.store is not plan.screens.store:
                plan.screens.release()  # one trial's archive in memory at a time

    return episodes


def _spec(game: str, preset: str | AtariPreset) -> EnvSpec:
    return atari_spec(game, get_preset(preset), training=False)


# ---------------------------------------------------------------------------------------------------------
# Atari Grand Challenge (Kurin et al. 2017).

AGC_GAMES = {
    "spaceinvaders": "SpaceInvaders",
    "qbert": "Qbert",
    "mspacman": "MsPacman",
    "pinball": "VideoPinball",
    "revenge": "MontezumaRevenge",
}
"""AGC folder names -> canonical game names."""


@dataclass
class _AgcRows:
    path: Path
    metadata: str
    frames: np.ndarray
    rewards: np.ndarray
    scores: np.ndarray
    terminal: np.ndarray
    actions: np.ndarray


def _parse_bool(text: str) -> bool:
    if text in ("True", "true", "1"):
        return True
    if text in ("False", "false", "0"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_agc(path: Path) -> _AgcRows:
    """Reads one AGC trajectory file: line 1 metadata, line 2 the header, then `frame,reward,score,terminal,
    action` per emulator frame (spaced like `12,0, 30, False, 4`)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise DatasetError(f"{path} cannot be read: {err}") from None
    if len(lines) < 2 or "".join(lines[1].split()).split(",") != [
        "frame",
        "reward",
        "score",
        "terminal",
        "action",
    ]:
        got = lines[1] if len(lines) > 1 else "nothing"
        raise DatasetError(
            f"{path}:2: expected the header 'frame,reward,score,terminal, action', got {got!r}."
        )
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            if len(fields) != 5:
                raise ValueError(f"{len(fields)} fields")
            frame, reward, score = int(fields[0]), float(fields[1]), float(fields[2])
            terminal, action = _parse_bool(fields[3]), int(fields[4])
            if not 0 <= action < 18:
                raise ValueError(f"action {action} is not a full-set ALE action id (0-17)")
        except ValueError as err:
            raise DatasetError(
                f"{path}:{number}: expected 'frame,reward,score,terminal,action' ({err}), got {line!r}."
            ) from None
        if frame != len(rows):
            raise DatasetError(
                f"{path}:{number}: frame {frame} where frame {len(rows)} was expected: AGC rows are one per "
                f"emulator frame, numbered from 0."
            )
        rows.append((frame, reward, score, terminal, action))
    if len(rows) < 2:
        raise DatasetError(f"{path}: fewer than two frames; nothing to import.")
    frames, rewards, scores, terminal, actions = (np.array(c) for c in zip(*rows, strict=True))
    return _AgcRows(
        path,
        lines[0],
        frames.astype(np.int64),
        rewards.astype(np.float64),
        scores.astype(np.float64),
        terminal.astype(bool),
        actions.astype(np.int64),
    )


def _agc_canonical(name: str) -> str:
    """Canonical game of an AGC folder name ("pinball" -> "VideoPinball") or of any common spelling."""
    return AGC_GAMES.get(re.sub(r"[^a-z0-9]", "", name.lower())) or canonical_game(name)


def _agc_folder(root: Path, game: str | None) -> tuple[str, str]:
    """(AGC folder name, canonical game) for `game`, or for the only game under `root` when None."""
    trajectories = root / "trajectories"
    if not trajectories.is_dir():
        raise DatasetError(
            f"{root} is not an Atari Grand Challenge folder: {trajectories} is missing "
            f"(expected trajectories/<game>/<n>.txt and screens/<game>/<n>/<frame>.png)."
        )
    present = sorted(p.name for p in trajectories.iterdir() if p.is_dir())
    if game is None:
        if len(present) != 1:
            raise DatasetError(f"{root} holds the games {present}; choose one with game=...")
        return present[0], _agc_canonical(present[0])
    canonical = _agc_canonical(game)
    for folder in present:
        with contextlib.suppress(ValueError):
            if _agc_canonical(folder) == canonical:
                return folder, canonical
    raise DatasetError(
        f"{trajectories} has no folder for {canonical} (AGC calls its games {sorted(AGC_GAMES)}); "
        f"present: {present}."
    )


def _plan_agc(
    rows: _AgcRows, name: str, screen_dir: Path, skip: int, actions: _ActionMap, report: ImportReport
) -> _EpisodePlan:
    """Row n's action is pressed during frame n, on screen n. Row n's reward and terminal flag are read from
    the console's RAM before frame n is emulated (the recorder, Javatari's `AtariConsole.clockPulse`, calls
    `game.step(ram)` and then `tia.frame()`), so they are the outcome of row n-1's action. The file thus
    holds the outcome of every action but the last row's (pressed on the last screen; neither its reward nor
    the screen after it was kept): rows 0 to count-2 are the actions, rewards 1 to count-1 their outcomes,
    and the score is their sum."""
    if not screen_dir.is_dir():
        raise DatasetError(f"{name}: its screens folder {screen_dir} is missing.")
    count = len(rows.frames)
    paths: list[Path | None] = [None] * count
    for entry in os.scandir(screen_dir):
        stem, _, ext = entry.name.partition(".")
        if ext == "png" and stem.isdigit() and int(stem) < count:
            paths[int(stem)] = Path(entry.path)
    screens = _FileScreens(paths, [f"{screen_dir}/{i}.png" for i in range(count)])
    over = rows.terminal[1:]
    outcome_rewards = rows.rewards[1:]
    if rows.rewards[0]:
        report.warnings.append(
            f"{name}: frame 0 has reward {rows.rewards[0]:g}, which no action produced; left out"
        )
    steps, terminated = _plan_frames(count - 1, over, skip, count - 1)
    used = sum(s.length for s in steps)
    report.frames_dropped += count - 1 - used
    if terminated and used < count - 1:
        report.warnings.append(
            f"{name}: game over at frame {used}, {count - 1 - used} frames before the end; "
            f"the rest of the trajectory is left out"
        )
    if abs(rows.scores[-1] - rows.rewards.sum()) > 1e-6:
        report.warnings.append(
            f"{name}: its final score {rows.scores[-1]:g} is not the sum of its rewards "
            f"{rows.rewards.sum():g}"
        )
    if 0 in screens.missing([0]):
        raise DatasetError(
            f"{name}: screen {screen_dir}/0.png is missing (this importer expects screens "
            f"numbered from 0, like the frames)."
        )

    def where(n: int) -> str:
        return f"{rows.path}:{n + 3}: {name}, frame {n}"

    return _finish_plan(
        name, screens, steps, terminated, rows.actions[:-1], outcome_rewards, 0, where, actions
    )


def import_agc(
    root: Path,
    game: str | None,
    out: Path,
    preset: str | AtariPreset = "nature",
    trajectories: list[str] | None = None,
    keep_rgb: bool = False,
    progress: bool | Progress | None = None,
    *,
    unknown_action: str = "error",
    off_palette: str = "nearest",
    source_palette: np.ndarray | None = None,
) -> ImportReport:
    """Imports Atari Grand Challenge trajectories (Kurin et al. 2017, "The Atari Grand Challenge Dataset").

    Layout: `<root>/trajectories/<game>/<n>.txt` (line 1 metadata, line 2 `frame,reward,score,terminal,
    action`, then one row per 60 Hz emulator frame with full-set ALE action ids; `terminal` is True only at
    game over) and `<root>/screens/<game>/<n>/<frame>.png` (210x160 RGB, from frame 0). One episode per
    trajectory: terminated when it ends in a game over, truncated when the player stopped (or quit, which
    leaves `terminal` False); its return is the trajectory's score.

    Alignment, from the recorder's code (the AGC repository's Javatari.js `AtariConsole.clockPulse` reads
    reward and game over from RAM, then emulates the frame with the keys held): row n's action is pressed
    during frame n, and row n's reward and terminal flag are the outcome of frame n-1, i.e. of row n-1's
    action. Screen n is taken as the screen shown before frame n (the pairing of the dataset's own loader);
    the replay that produced the screens is not in the dataset, so a one-frame offset there cannot be
    excluded.

    The screens were drawn by Javatari.js, whose palette is not ALE's (its colour 1 is (64, 64, 64), ALE's
    (74, 74, 74)): by default each off-palette colour becomes the grayscale of ALE's nearest colour
    (`imitax.data.screens.AleGrayscale`; of Javatari's 128 colours, 109 snap to their own ALE colour), and
    the report counts the pixels concerned. Pass Javatari's NTSC palette (javatari.js `TiaPalettes.js`) as
    `source_palette`, (128, 3) RGB in TIA colour order, for an exact mapping.

    Args:
      root: the dataset's folder (holding trajectories/ and screens/).
      game: a game in any spelling ("spaceinvaders", "VideoPinball", "revenge"); None for the only one.
      out: the new dataset's directory (new or empty).
      preset: the preprocessing preset the frames are made for.
      trajectories: trajectory numbers ("12" or "12.txt") to import; None for all.
      keep_rgb: also store each observation's raw screen (`extras["rgb"]`, 100 kB per step).
      progress: True for a progress bar, or a `progress(done, total)` callable.
      unknown_action: an action the game lacks under the preset: "error", "noop" or "nearest".
      off_palette, source_palette: how screen colours outside ALE's palette are read (see `AleGrayscale`).
    """
    root, out = Path(root), Path(out)
    _check_out(out)
    folder, canonical = _agc_folder(root, game)
    spec = _spec(canonical, preset)
    assert spec.preset is not None
    report = ImportReport("agc", spec.name, spec.preset.name, out)
    action_map = _ActionMap(spec, unknown_action, report)
    to_gray = AleGrayscale(off_palette, source_palette)  # checks its arguments before the slow part
    traj_dir = root / "trajectories" / folder
    available = {p.stem: p for p in traj_dir.glob("*.txt")}
    if trajectories is None:
        names = sorted(available, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    else:
        names = [str(t).removesuffix(".txt") for t in trajectories]
        unknown = [n for n in names if n not in available]
        if unknown:
            raise DatasetError(f"{traj_dir} has no trajectories {unknown} ({len(available)} present).")
    if not names:
        raise DatasetError(f"{traj_dir} holds no trajectories (<n>.txt).")
    plans = []
    for name in names:
        rows = _parse_agc(available[name])
        screen_dir = root / "screens" / folder / name
        plans.append(
            _plan_agc(rows, f"trajectory {name}", screen_dir, spec.preset.frame_skip, action_map, report)
        )
    source = Source(
        kind="import",
        name="agc",
        details={
            "dataset": "Atari Grand Challenge (Kurin et al. 2017, arXiv:1705.10998)",
            "root": str(root.resolve()),
            "game_folder": folder,
            "trajectories": [p.name.removeprefix("trajectory ") for p in plans],
            "frame_rate_hz": 60,
            "action_of_step": "the first frame's of each group of frame_skip frames",
            "alignment": "screen n is shown before row n's action; row n+1's reward and terminal follow it",
            "unknown_action": unknown_action,
            "off_palette": off_palette,
            "source_palette": source_palette is not None,
        },
    )
    total = sum(len(p.screens_needed) for p in plans)
    episodes = _built(plans, to_gray, spec.preset.image_size, keep_rgb, report)
    _write(out, spec, source, report, total, progress, episodes, to_gray)
    return report


# ---------------------------------------------------------------------------------------------------------
# Atari-HEAD (Zhang et al. 2019).


def _gaze_extras(gaze: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-step gaze lists (x0, y0, x1, y1, ...) as `gaze_xy` (N, 2) float32 points with `gaze_start`
    (T+1,) int64 offsets: step t's points are gaze_xy[gaze_start[t]:gaze_start[t+1]]. Fixed-width arrays
    compress and are checksummed like every other extra."""
    start = np.concatenate([[0], np.cumsum([len(g) // 2 for g in gaze])]).astype(np.int64)
    xy = np.concatenate(gaze).reshape(-1, 2) if gaze else np.zeros((0, 2), np.float32)
    return {"gaze_xy": xy.astype(np.float32), "gaze_start": start}


def episode_gaze(extras: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The gaze of each step of an imported Atari-HEAD episode (`Dataset.episode(i, extras=True).extras`):
    a (k, 2) float32 array of (x, y) screen positions per step, empty where none was recorded."""
    if "gaze_xy" not in extras:
        raise KeyError("this episode has no gaze (import Atari-HEAD, and load the episode with extras=True)")
    start, xy = extras["gaze_start"], extras["gaze_xy"]
    return [xy[a:b] for a, b in itertools.pairwise(start)]


ATARI_HEAD_HEADER = ["frame_id", "episode_id", "score", "duration(ms)", "unclipped_reward", "action"]


@dataclass
class _HeadRows:
    path: Path
    frame_ids: list[str]
    frame_numbers: np.ndarray
    episodes: list[str | None]
    durations: np.ndarray
    rewards: np.ndarray
    actions: np.ndarray
    gaze: list[np.ndarray]


def _nullable(text: str, kind: type) -> Any:
    return None if text.strip() in ("null", "") else kind(text)


def _parse_atari_head(path: Path) -> _HeadRows:
    """Reads one trial's label file; the gaze list spills over the columns after the sixth comma."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise DatasetError(f"{path} cannot be read: {err}") from None
    header = [h.strip() for h in (lines[0] if lines else "").split(",")]
    if header[:6] != ATARI_HEAD_HEADER:
        raise DatasetError(
            f"{path}:1: expected the header '{','.join(ATARI_HEAD_HEADER)},gaze_positions', "
            f"got {lines[0] if lines else 'nothing'!r}."
        )
    rows = _HeadRows(path, [], np.zeros(0), [], np.zeros(0), np.zeros(0), np.zeros(0), [])
    numbers, durations, rewards, actions = [], [], [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",", 6)
        try:
            if len(fields) < 6:
                raise ValueError(f"{len(fields)} fields")
            frame_id = fields[0].strip()
            episode = _nullable(fields[1], int)
            duration = _nullable(fields[3], float)
            reward = _nullable(fields[4], float)
            action = int(fields[5])
            if not 0 <= action < 18:
                raise ValueError(f"action {action} is not a full-set ALE action id (0-17)")
            gaze_text = fields[6].strip() if len(fields) > 6 else "null"
            gaze = (
                np.zeros(0, np.float32)
                if gaze_text in ("null", "")
                else np.array([float(v) for v in gaze_text.split(",")], np.float32)
            )
            if len(gaze) % 2:
                raise ValueError(f"gaze has an odd number ({len(gaze)}) of coordinates")
        except ValueError as err:
            raise DatasetError(
                f"{path}:{number}: expected 'frame_id,episode_id,score,duration(ms),"
                f"unclipped_reward,action,gaze...' ({err}), got {line[:120]!r}."
            ) from None
        suffix = frame_id.rsplit("_", 1)[-1]
        rows.frame_ids.append(frame_id)
        numbers.append(int(suffix) if suffix.isdigit() else len(numbers))
        rows.episodes.append(None if episode is None else str(episode))
        durations.append(np.nan if duration is None else duration)
        rewards.append(0.0 if reward is None else reward)
        actions.append(action)
        rows.gaze.append(gaze)
    rows.frame_numbers = np.array(numbers, np.int64)
    rows.durations = np.array(durations, np.float64)
    rows.rewards = np.array(rewards, np.float64)
    rows.actions = np.array(actions, np.int64)
    return rows


def _first_line(path: Path) -> str:
    with path.open() as file:
        return file.readline()


def _head_trials(source: Path) -> list[tuple[Path, Path | None]]:
    """(label file, frames folder or .tar.bz2) of each trial `source` names: a label file, a trial's
    .tar.bz2 or frames folder, or a folder of trials."""
    if not source.exists():
        raise DatasetError(f"{source} does not exist.")

    def frames_of(label: Path) -> Path | None:
        stem = label.with_suffix("")
        if stem.is_dir():
            return stem
        archive = stem.with_name(stem.name + ".tar.bz2")
        return archive if archive.exists() else None

    if source.is_file():
        if source.name.endswith(".tar.bz2"):
            label = source.with_name(source.name.removesuffix(".tar.bz2") + ".txt")
        elif source.suffix == ".txt":
            label = source
        else:
            raise DatasetError(
                f"{source}: pass an Atari-HEAD label file (.txt), a trial's .tar.bz2 or a folder."
            )
        if not label.exists():
            raise DatasetError(f"{source}: its label file {label} is missing.")
        return [(label, frames_of(label))]
    if any(p.suffix == ".png" for p in source.iterdir()):  # an extracted trial folder
        label = source.with_name(source.name + ".txt")
        if not label.exists():
            raise DatasetError(f"{source} holds frames but its label file {label} is missing.")
        return [(label, source)]
    labels = sorted(p for p in source.glob("*.txt") if _first_line(p).startswith("frame_id,"))
    if not labels:
        raise DatasetError(f"{source} holds no Atari-HEAD trials (<trial>_<subject>_<id>_<date>.txt).")
    return [(label, frames_of(label)) for label in labels]


def _head_game(label: Path, game: str | None) -> str:
    if game is not None:
        return canonical_game(game)
    candidates = [label.parent.name.removesuffix("_highscore")]
    parts = label.stem.split("_")
    if len(parts) >= 3:
        candidates.append(parts[2])
    for candidate in candidates:
        with contextlib.suppress(ValueError):
            return canonical_game(candidate)
    raise DatasetError(f"{label}: the game is neither its folder's name nor in its name; pass game=...")


class _TarFrames:
    """A trial's .tar.bz2, read once (streaming), keeping only the frames asked for."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.wanted: set[str] = set()
        self._data: dict[str, bytes] | None = None

    def get(self, frame_id: str) -> bytes:
        if self._data is None:
            self._data = {}
            try:
                with tarfile.open(self.archive, "r|bz2") as tar:
                    for member in tar:
                        name = os.path.basename(member.name)
                        if member.isfile() and name.endswith(".png") and name[:-4] in self.wanted:
                            file = tar.extractfile(member)
                            assert file is not None
                            self._data[name[:-4]] = file.read()
            except (tarfile.TarError, OSError, EOFError) as err:
                raise DatasetError(f"{self.archive} cannot be read: {err}") from None
        if frame_id not in self._data:
            raise DatasetError(f"{self.archive}: screen {frame_id}.png is missing.")
        return self._data[frame_id]

    def release(self) -> None:
        self._data = None


class _TarScreens(_Screens):
    def __init__(self, tar: _TarFrames, frame_ids: list[str]):
        self.tar, self.frame_ids = tar, frame_ids
        self.store = tar

    def release(self) -> None:
        self.tar.release()

    def __len__(self) -> int:
        return len(self.frame_ids)

    def label(self, index: int) -> str:
        return f"{self.tar.archive}:{self.frame_ids[index]}.png"

    def read(self, index: int) -> np.ndarray:
        return _decode_png(self.tar.get(self.frame_ids[index]), None, self.label(index))


def _head_segments(episodes: list[str | None]) -> list[tuple[int, int, bool]]:
    """(start, end, ended by a game over) of each run of rows with one episode id. A run is taken to end in a
    game over when the next run has another, non-null episode id; the trial's last run was cut by time."""
    bounds = [0] + [i for i in range(1, len(episodes)) if episodes[i] != episodes[i - 1]] + [len(episodes)]
    runs = list(itertools.pairwise(bounds))
    return [
        (a, b, k + 1 < len(runs) and episodes[a] is not None and episodes[runs[k + 1][0]] is not None)
        for k, (a, b) in enumerate(runs)
    ]


def import_atari_head(
    source: Path,
    out: Path,
    game: str | None = None,
    preset: str | AtariPreset = "nature",
    keep_rgb: bool = False,
    progress: bool | Progress | None = None,
    *,
    frames_per_row: int = 4,
    unknown_action: str = "error",
    off_palette: str = "luminance",
) -> ImportReport:
    """Imports Atari-HEAD trials (Zhang et al. 2019, "Atari-HEAD: Atari Human Eye-Tracking and Demonstration
    Dataset"), with the gaze.

    Layout, per trial: a label file `<stem>.txt` (header `frame_id,episode_id,score,duration(ms),
    unclipped_reward,action,gaze_positions`; the gaze is `null` or `x0,y0,x1,y1,...` over the remaining
    columns; `episode_id` and `score` may be `null`; full-set ALE action ids) and its frames `<frame_id>.png`
    in a folder `<stem>/` or in the archive `<stem>.tar.bz2` as distributed. Row i's screen is the one the
    player decided on, its action the decision, its reward the decision's outcome. Within a trial each run of
    rows with one `episode_id` is an episode: ended by a game over when another (non-null) episode follows,
    truncated at the end of the trial.

    Atari-HEAD kept one screen per decision, not the emulator frames in between, so observations are single
    screens without the max over the last two frames the environment takes (they differ where objects
    flicker), and the screen after an episode's last decision is missing: the last observation is shown again
    (a terminated episode never uses it; a truncated one, cut by the trial's end, keeps its last decision and
    reward, so its return is the trial's score, and bootstraps from that repeated screen). Trials recorded
    with ALE's frame averaging hold blended colours, read with ALE's formula by default
    (`off_palette="luminance"`).

    Args:
      source: a label file, a trial's .tar.bz2 or frames folder, or a folder of trials (e.g. one game's).
      out: the new dataset's directory (new or empty).
      game: the game in any spelling; None to read it from the folder's name (Atari-HEAD's "ms_pacman").
      preset: the preprocessing preset the frames are made for.
      keep_rgb: also store each observation's raw screen (`extras["rgb"]`).
      progress: True for a progress bar, or a `progress(done, total)` callable.
      frames_per_row: emulator frames between two rows. The recording software is not in the dataset; 4
        (ALE's usual frame skip; a held key ran the game at 20 decisions per second, and 8 million
        decisions over 117 hours is 19 per second) is an assumption: check it against your copy. With
        frames_per_row = the preset's frame_skip each row is a step; with a divisor of it several rows make a
        step; with 1, rows are emulator frames and are max-pooled like AGC's.
      unknown_action: an action the game lacks under the preset: "error", "noop" or "nearest".
      off_palette: how screen colours outside ALE's palette are read (see `AleGrayscale`).

    Extras: `frame_number` (the frame_id's counter of each observation's screen), `gaze` (per step: a float32
    array x0,y0,x1,y1,... in screen pixels, empty when null) and `duration_ms` (per step: decision time).
    """
    source, out = Path(source), Path(out)
    _check_out(out)
    trials = _head_trials(source)
    spec = _spec(_head_game(trials[0][0], game), preset)
    assert spec.preset is not None
    skip = spec.preset.frame_skip
    if frames_per_row < 1 or skip % frames_per_row:
        raise ValueError(f"frames_per_row must divide the preset's frame_skip ({skip}), got {frames_per_row}")
    rows_per_step = skip // frames_per_row
    report = ImportReport("atari-head", spec.name, spec.preset.name, out)
    action_map = _ActionMap(spec, unknown_action, report)
    to_gray = AleGrayscale(off_palette)
    plans = []
    for label, frames in trials:
        if frames is None:
            raise DatasetError(
                f"{label}: its frames are missing (neither the folder {label.with_suffix('')} "
                f"nor {label.with_suffix('')}.tar.bz2 exists)."
            )
        if game is None and _head_game(label, None) != spec.name:
            raise DatasetError(
                f"{label} is {_head_game(label, None)}, not {spec.name}: import one game at a time."
            )
        rows = _parse_atari_head(label)
        tar = _TarFrames(frames) if frames.is_file() else None
        pngs = {} if tar else {p.stem: p for p in frames.rglob("*.png")}
        for start, end, game_over in _head_segments(rows.episodes):
            ids = rows.frame_ids[start:end]
            screens: _Screens = (
                _TarScreens(tar, ids)
                if tar
                else _FileScreens([pngs.get(i) for i in ids], [f"{frames}/{i}.png" for i in ids])
            )
            count = end - start
            over = np.zeros(count, bool)
            over[-1] = game_over
            numbers = rows.frame_numbers[start:end]

            def frame_of(i: int, numbers: np.ndarray = numbers) -> int:
                return int(numbers[i]) if i < len(numbers) else int(numbers[-1]) + 1  # past the last row

            if frames_per_row == 1:  # row i's reward is its own outcome: every row is an action
                steps, terminated = _plan_frames(count, over, skip, count - 1, frame_of)
            else:
                steps, terminated = _plan_rows(count, over, rows_per_step, count, frame_of)
            used = sum(s.length for s in steps)
            report.frames_dropped += (count - used) * frames_per_row
            episode = rows.episodes[start]
            name = f"trial {label.stem}" + (f" episode {episode}" if episode is not None else "")

            def where(n: int, label: Path = label, start: int = start, name: str = name) -> str:
                return f"{label}:{start + n + 2}: {name}, row {n}"

            gaze = [np.concatenate(rows.gaze[start + s.first : start + s.first + s.length]) for s in steps]
            durations = np.array(
                [rows.durations[start + s.first : start + s.first + s.length].sum() for s in steps],
                np.float64,
            )
            plan = _finish_plan(
                name,
                screens,
                steps,
                terminated,
                rows.actions[start:end],
                rows.rewards[start:end],
                int(numbers[0]),
                where,
                action_map,
                {**_gaze_extras(gaze), "duration_ms": durations},
            )
            if tar:
                tar.wanted.update(ids[i] for i in plan.screens_needed if i < len(ids))
            plans.append(plan)
    if frames_per_row > 1:
        report.warnings.append(
            "Atari-HEAD keeps one screen per decision: observations are single screens, not the max of the "
            f"last two frames the environment shows (frames_per_row={frames_per_row} is an assumption)"
        )
    details = {
        "dataset": "Atari-HEAD (Zhang et al. 2019, arXiv:1903.06754)",
        "source": str(source.resolve()),
        "trials": [label.stem for label, _ in trials],
        "frames_per_row": frames_per_row,
        "action_of_step": "the first row's of each step",
        "unknown_action": unknown_action,
        "off_palette": off_palette,
    }
    origin = Source(kind="import", name="atari-head", details=details)
    total = sum(len(p.screens_needed) for p in plans)
    episodes = _built(plans, to_gray, spec.preset.image_size, keep_rgb, report)
    _write(out, spec, origin, report, total, progress, episodes, to_gray)
    return report


# ---------------------------------------------------------------------------------------------------------
# Minari datasets of ALE screens.


def _minari_data_path(source: Path | str) -> Path:
    """The data/ folder of a Minari dataset given by its directory, its data/ folder or a local id."""
    path = Path(source)
    for candidate in (path / DATA_DIR, path):
        if (candidate / METADATA_FILE).exists():
            return candidate
    if not path.exists() and not path.is_absolute():  # a dataset id, where minari keeps datasets
        root = Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))
        if (root / str(source) / DATA_DIR / METADATA_FILE).exists():
            return root / str(source) / DATA_DIR
        raise DatasetError(
            f"no Minari dataset at {source}, nor with that id under {root} (MINARI_DATASETS_PATH)."
        )
    raise DatasetError(f"{source} is not a Minari dataset: {DATA_DIR}/{METADATA_FILE} is missing.")


@dataclass(frozen=True)
class _MinariLayout:
    """How a Minari dataset's episodes become imitax episodes."""

    full_ids: np.ndarray  # the recording's action indices -> full-set ALE ids
    frameskip: int | None  # None: frames already preprocessed
    labels: bool  # an imitax dataset: its episodes carry labels to keep


def _minari_layout(dataset: Any, data_path: Path, spec: EnvSpec, report: ImportReport) -> _MinariLayout:
    """Checks what a Minari dataset holds against what can be imported, warning where frames will differ."""
    assert spec.preset is not None
    kwargs = dict(dataset.env_spec.kwargs) if dataset.env_spec is not None else {}
    if "game" in kwargs and canonical_game(str(kwargs["game"])) != spec.name:
        raise DatasetError(
            f"{data_path} was recorded on {canonical_game(str(kwargs['game']))}, not {spec.name}."
        )
    shape = tuple(dataset.observation_space.shape or ())
    size, skip = spec.preset.image_size, spec.preset.frame_skip
    raw = shape in (SCREEN_SHAPE, (*SCREEN_SHAPE, 3))
    if not raw and shape != (size, size):
        raise DatasetError(
            f"{data_path}: observations of shape {shape} are not supported. Supported: raw ALE screens "
            f"(210, 160, 3) RGB or (210, 160) grayscale recorded with frameskip=1 (or {skip}, the preset's "
            f"frame_skip), or ({size}, {size}) frames already preprocessed like the preset's."
        )
    if bool(getattr(dataset.storage, "jpeg_encoding", False)):
        report.warnings.append(
            "the observations were stored JPEG-encoded (lossy): the imported frames approximate what the "
            "environment shows"
        )
    if float(kwargs.get("repeat_action_probability", 0.0)) > 0:
        report.warnings.append(
            f"recorded with sticky actions (p={kwargs['repeat_action_probability']}): some executed actions "
            f"differ from the recorded ones"
        )
    info = dataset.storage.metadata.get("imitax")
    if info is not None:
        check_compatible(info, spec, what=f"importing {data_path}")
        full_ids = np.array(info["action_ids"], np.int64)
    else:
        full_ids = np.array(
            atari_spec(spec.name, "machado" if kwargs.get("full_action_space") else "nature").action_ids,
            np.int64,
        )
    if not raw:
        if info is None:
            report.warnings.append(
                f"the observations are already {size}x{size} frames, copied as they are: whether they were "
                f"made like the preset's cannot be checked"
            )
        return _MinariLayout(full_ids, None, info is not None)
    frameskip = kwargs.get("frameskip")
    if frameskip not in (1, skip):
        raise DatasetError(
            f"{data_path}: recorded with frameskip={frameskip!r}; raw screens can be imported at frameskip=1 "
            f"(max-pooled like the environment) or {skip} (the preset's), not others."
        )
    if frameskip != 1:
        report.warnings.append(
            f"recorded at frameskip={frameskip}: each step's screen alone, without the max over the last two "
            f"frames the environment takes"
        )
    return _MinariLayout(full_ids, int(frameskip), False)


def import_minari(
    source: Path | str,
    out: Path,
    game: str,
    preset: str | AtariPreset = "nature",
    keep_rgb: bool = False,
    progress: bool | Progress | None = None,
    *,
    unknown_action: str = "error",
    off_palette: str = "luminance",
) -> ImportReport:
    """Imports a Minari dataset of an ALE game (Minari's `DataCollector` on `ALE/<Game>-v5`, or an imitax
    dataset).

    Supported observations:
      - raw screens, RGB (210, 160, 3) or ALE grayscale (210, 160), recorded with `frameskip=1`: made into
        the preset's frames like AGC's (max over the last two frames of each group, rewards summed, the
        group's first action);
      - raw screens recorded with `frameskip` = the preset's frame_skip: each step's screen alone (the frame
        before it, which the environment max-pools with, was not recorded; the report warns);
      - frames already preprocessed (S, S) with S = the preset's image_size: copied. An imitax dataset is
        checked against the preset (`check_compatible`) and keeps its labels; for another one the
        preprocessing cannot be checked and the report says so.
    Actions are indices into the recording environment's action set (`full_action_space` in its spec).
    `DataCollector` stores images JPEG-encoded unless told not to (`jpeg_encoding=False`): JPEG is lossy, so
    colours drift off ALE's palette and frames differ slightly from the environment's; the report warns.
    Episodes are read, checked and written one at a time (a dataset can be larger than memory); if one
    fails, everything this call wrote is removed.

    Args:
      source: a Minari dataset directory (holding data/), its data/ folder, or a local dataset id
        (looked up under MINARI_DATASETS_PATH).
      out: the new dataset's directory (new or empty).
      game: the game, in any spelling; must match the dataset's environment when it names one.
      preset, keep_rgb, unknown_action, off_palette: as for `import_agc`.
      progress: True for a progress bar, or a `progress(done, total)` callable, counting episodes.
    """
    import minari

    out = Path(out)
    _check_out(out)
    spec = _spec(game, preset)
    assert spec.preset is not None
    data_path = _minari_data_path(source)
    try:
        dataset = minari.MinariDataset(data_path)
    except Exception as err:  # minari raises many kinds for a dataset it cannot read
        raise DatasetError(f"{data_path} cannot be read by minari: {err}") from None
    report = ImportReport("minari", spec.name, spec.preset.name, out)
    action_map = _ActionMap(spec, unknown_action, report)
    to_gray = AleGrayscale(off_palette)
    layout = _minari_layout(dataset, data_path, spec, report)
    skip, size = spec.preset.frame_skip, spec.preset.image_size

    def plans() -> Iterator[_EpisodePlan | tuple[str, Episode]]:
        for data in dataset.iterate_episodes():
            name = f"episode {data.id}"
            row_actions = layout.full_ids[np.asarray(data.actions, np.int64)]
            rewards = np.asarray(data.rewards, np.float64)
            over = np.asarray(data.terminations, bool)
            count = len(row_actions)

            def where(n: int, name: str = name) -> str:
                return f"{data_path}: {name}, step {n}"

            if layout.frameskip is None:  # ready frames: copied
                if not count:
                    report.skipped_episodes += 1
                    continue
                actions = np.array(
                    [action_map(int(a), where(n)) for n, a in enumerate(row_actions)], np.int64
                )
                labels = actions
                if layout.labels and "label" in data.infos:
                    labels = action_index_map(dataset.storage.metadata["imitax"], spec)[data.infos["label"]]
                ends = np.arange(count) == count - 1
                yield (
                    name,
                    Episode(
                        frames=np.asarray(data.observations, np.uint8),
                        actions=actions,
                        labels=np.asarray(labels, np.int64),
                        rewards=rewards,
                        terminations=over,
                        truncations=(np.asarray(data.truncations, bool) | ends) & ~over,
                        extras={"frame_number": np.arange(count + 1, dtype=np.int64) * skip},
                    ),
                )
                continue
            screens = _ArrayScreens(np.asarray(data.observations), f"{data_path}: {name}")
            if layout.frameskip == 1:
                steps, terminated = _plan_frames(count, over, skip, count)
            else:
                steps, terminated = _plan_rows(count, over, 1, count + 1, lambda i: i * skip)
            report.frames_dropped += (count - sum(s.length for s in steps)) * (layout.frameskip or 1)
            yield _finish_plan(name, screens, steps, terminated, row_actions, rewards, 0, where, action_map)

    def episodes(advance: Callable[[int], None]) -> Iterator[tuple[str, Episode]]:
        for item in plans():
            if isinstance(item, _EpisodePlan):
                yield from _episode_of(item, to_gray, size, keep_rgb, report, lambda n: None)
            else:
                yield item
            advance(1)

    if keep_rgb and dataset.observation_space.shape == SCREEN_SHAPE:
        report.warnings.append("keep_rgb: the dataset holds grayscale screens, so no RGB is kept")
    details = {
        "dataset": str(data_path.resolve()),
        "env_spec": dataset.env_spec.id if dataset.env_spec is not None else None,
        "frameskip": layout.frameskip,
        "unknown_action": unknown_action,
        "off_palette": off_palette,
    }
    source_ = Source(kind="import", name="minari", details=details)
    _write(out, spec, source_, report, dataset.total_episodes, progress, episodes, to_gray)
    return report
