"""Atari-HEAD (Zhang et al. 2019, "Atari-HEAD: Atari Human Eye-Tracking and Demonstration Dataset",
arXiv:1903.06754): one label row, one PNG screen and the gaze per decision, made into imitax episodes by
`import_atari_head`.

Holds what only Atari-HEAD has: its trials' label files (and their gaze), where a trial's frames are (a
folder or the distributed .tar.bz2, read once by streaming), how a trial splits into episodes, and the gaze
extras (`gaze_xy`, `gaze_start`; read them back with `episode_gaze`) and `duration_ms` its episodes keep.
Its rows are planned as decisions (`imitax.data.importers.frames.plan_rows`), or as emulator frames when
`frames_per_row=1`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imitax.data.dataset import DatasetError, Source
from imitax.data.importers.frames import (
    EpisodePlan,
    FileScreens,
    Screens,
    Step,
    decode_png,
    finish_plan,
    parse_action_id,
    plan_frames,
    plan_rows,
    read_lines,
)
from imitax.data.importers.report import ImportReport, Progress
from imitax.data.importers.writing import ImportRun, check_out, spec_for, start_import, write_plans
from imitax.envs import AtariPreset, canonical_game

ATARI_HEAD_HEADER = ["frame_id", "episode_id", "score", "duration(ms)", "unclipped_reward", "action"]


# ---------------------------------------------------------------------------------------------------------
# The gaze, as episodes store it.


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


# ---------------------------------------------------------------------------------------------------------
# Label files.


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
    lines = read_lines(path)
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
        frame_id, episode, duration, reward, action, gaze = _parse_head_row(path, number, line)
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


def _parse_head_row(
    path: Path, number: int, line: str
) -> tuple[str, int | None, float | None, float | None, int, np.ndarray]:
    """(frame_id, episode_id, duration, reward, action, gaze) of line `number` of a label file; None where
    the file says null."""
    fields = line.split(",", 6)
    try:
        if len(fields) < 6:
            raise ValueError(f"{len(fields)} fields")
        frame_id = fields[0].strip()
        episode = _nullable(fields[1], int)
        duration = _nullable(fields[3], float)
        reward = _nullable(fields[4], float)
        action = parse_action_id(fields[5])
        gaze = _parse_gaze(fields[6].strip() if len(fields) > 6 else "null")
    except ValueError as err:
        raise DatasetError(
            f"{path}:{number}: expected 'frame_id,episode_id,score,duration(ms),"
            f"unclipped_reward,action,gaze...' ({err}), got {line[:120]!r}."
        ) from None
    return frame_id, episode, duration, reward, action, gaze


def _parse_gaze(text: str) -> np.ndarray:
    """A row's gaze, `null` or `x0,y0,x1,y1,...`, as a flat float32 array (empty for null)."""
    gaze = (
        np.zeros(0, np.float32)
        if text in ("null", "")
        else np.array([float(v) for v in text.split(",")], np.float32)
    )
    if len(gaze) % 2:
        raise ValueError(f"gaze has an odd number ({len(gaze)}) of coordinates")
    return gaze


# ---------------------------------------------------------------------------------------------------------
# Trials: where their label files and frames are.


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


class _TarScreens(Screens):
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
        return decode_png(self.tar.get(self.frame_ids[index]), None, self.label(index))


def _head_segments(episodes: list[str | None]) -> list[tuple[int, int, bool]]:
    """(start, end, ended by a game over) of each run of rows with one episode id. A run is taken to end in a
    game over when the next run has another, non-null episode id; the trial's last run was cut by time."""
    bounds = [0] + [i for i in range(1, len(episodes)) if episodes[i] != episodes[i - 1]] + [len(episodes)]
    runs = list(itertools.pairwise(bounds))
    return [
        (a, b, k + 1 < len(runs) and episodes[a] is not None and episodes[runs[k + 1][0]] is not None)
        for k, (a, b) in enumerate(runs)
    ]


# ---------------------------------------------------------------------------------------------------------
# Planning a trial's episodes, and the import.


def _plan_trial(
    run: ImportRun, label: Path, frames: Path | None, game: str | None, frames_per_row: int
) -> list[EpisodePlan]:
    """The episodes of one trial, planned and checked, its archive (if any) told which screens to keep."""
    if frames is None:
        raise DatasetError(
            f"{label}: its frames are missing (neither the folder {label.with_suffix('')} "
            f"nor {label.with_suffix('')}.tar.bz2 exists)."
        )
    if game is None and _head_game(label, None) != run.spec.name:
        raise DatasetError(
            f"{label} is {_head_game(label, None)}, not {run.spec.name}: import one game at a time."
        )
    rows = _parse_atari_head(label)
    tar = _TarFrames(frames) if frames.is_file() else None
    pngs = {} if tar else {p.stem: p for p in frames.rglob("*.png")}
    plans = []
    for start, end, game_over in _head_segments(rows.episodes):
        ids = rows.frame_ids[start:end]
        screens: Screens = (
            _TarScreens(tar, ids)
            if tar
            else FileScreens([pngs.get(i) for i in ids], [f"{frames}/{i}.png" for i in ids])
        )
        plan = _plan_episode(run, rows, screens, start, end, game_over, frames_per_row)
        if tar:
            tar.wanted.update(ids[i] for i in plan.screens_needed if i < len(ids))
        plans.append(plan)
    return plans


def _plan_episode(
    run: ImportRun,
    rows: _HeadRows,
    screens: Screens,
    start: int,
    end: int,
    game_over: bool,
    frames_per_row: int,
) -> EpisodePlan:
    """The episode of rows `start` to `end` of a trial; its gaze and decision times kept per step."""
    count = end - start
    over = np.zeros(count, bool)
    over[-1] = game_over
    numbers = rows.frame_numbers[start:end]

    def frame_of(i: int) -> int:
        return int(numbers[i]) if i < len(numbers) else int(numbers[-1]) + 1  # past the last row

    skip = run.preset.frame_skip
    if frames_per_row == 1:  # row i's reward is its own outcome: every row is an action
        steps, terminated = plan_frames(count, over, skip, count - 1, frame_of)
    else:
        steps, terminated = plan_rows(count, over, skip // frames_per_row, count, frame_of)
    used = sum(s.length for s in steps)
    run.report.frames_dropped += (count - used) * frames_per_row
    episode = rows.episodes[start]
    name = f"trial {rows.path.stem}" + (f" episode {episode}" if episode is not None else "")

    def where(n: int) -> str:
        return f"{rows.path}:{start + n + 2}: {name}, row {n}"

    row_actions, row_rewards = rows.actions[start:end], rows.rewards[start:end]
    extras = _step_extras(rows, start, steps)
    return finish_plan(
        name,
        screens,
        steps,
        terminated,
        row_actions,
        row_rewards,
        int(numbers[0]),
        where,
        run.actions,
        extras,
    )


def _step_extras(rows: _HeadRows, start: int, steps: list[Step]) -> dict[str, np.ndarray]:
    """Each step's gaze (all its rows' points) and decision time (the sum of its rows'), for rows from
    `start`."""
    gaze = [np.concatenate(rows.gaze[start + s.first : start + s.first + s.length]) for s in steps]
    durations = np.array(
        [rows.durations[start + s.first : start + s.first + s.length].sum() for s in steps],
        np.float64,
    )
    return {**_gaze_extras(gaze), "duration_ms": durations}


# Over 60 lines for its docstring (the dataset's layout and what its frames lack, for users); its body is
# 29 lines.
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
    check_out(out)
    trials = _head_trials(source)
    spec = spec_for(_head_game(trials[0][0], game), preset)
    assert spec.preset is not None
    skip = spec.preset.frame_skip
    if frames_per_row < 1 or skip % frames_per_row:
        raise ValueError(f"frames_per_row must divide the preset's frame_skip ({skip}), got {frames_per_row}")
    run = start_import("atari-head", spec, out, unknown_action, off_palette)
    plans = [
        plan for label, frames in trials for plan in _plan_trial(run, label, frames, game, frames_per_row)
    ]
    if frames_per_row > 1:
        run.report.warnings.append(
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
    write_plans(run, out, origin, plans, keep_rgb, progress)
    return run.report
