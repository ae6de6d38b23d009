"""The Atari Grand Challenge dataset (Kurin et al. 2017, "The Atari Grand Challenge Dataset",
arXiv:1705.10998): one text row and one PNG screen per 60 Hz emulator frame, made into imitax episodes by
`import_agc`.

Holds what only AGC has: its folder layout and game names (`AGC_GAMES`), its trajectory files' format, and
how their rows line up with the screens (row n's reward and terminal flag are the outcome of row n-1's
action, see `_plan_agc`). Its frames are planned like the environment's, max-pooled over frame-skip groups
(`imitax.data.importers.frames.plan_frames`).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imitax.data.dataset import DatasetError, Source
from imitax.data.importers.frames import (
    EpisodePlan,
    FileScreens,
    finish_plan,
    parse_action_id,
    plan_frames,
    read_lines,
)
from imitax.data.importers.report import ImportReport, Progress
from imitax.data.importers.writing import ImportRun, check_out, spec_for, start_import, write_plans
from imitax.envs import AtariPreset, canonical_game

AGC_GAMES = {
    "spaceinvaders": "SpaceInvaders",
    "qbert": "Qbert",
    "mspacman": "MsPacman",
    "pinball": "VideoPinball",
    "revenge": "MontezumaRevenge",
}
"""AGC folder names -> canonical game names."""

_HEADER = ["frame", "reward", "score", "terminal", "action"]


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
    lines = read_lines(path)
    if len(lines) < 2 or "".join(lines[1].split()).split(",") != _HEADER:
        got = lines[1] if len(lines) > 1 else "nothing"
        raise DatasetError(
            f"{path}:2: expected the header 'frame,reward,score,terminal, action', got {got!r}."
        )
    rows = []
    for number, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        row = _parse_agc_row(path, number, line)
        if row[0] != len(rows):
            raise DatasetError(
                f"{path}:{number}: frame {row[0]} where frame {len(rows)} was expected: AGC rows are one "
                f"per emulator frame, numbered from 0."
            )
        rows.append(row)
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


def _parse_agc_row(path: Path, number: int, line: str) -> tuple[int, float, float, bool, int]:
    """(frame, reward, score, terminal, action) of line `number` of a trajectory file."""
    fields = [f.strip() for f in line.split(",")]
    try:
        if len(fields) != 5:
            raise ValueError(f"{len(fields)} fields")
        frame, reward, score = int(fields[0]), float(fields[1]), float(fields[2])
        return frame, reward, score, _parse_bool(fields[3]), parse_action_id(fields[4])
    except ValueError as err:
        raise DatasetError(
            f"{path}:{number}: expected 'frame,reward,score,terminal,action' ({err}), got {line!r}."
        ) from None


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


def _trajectory_names(traj_dir: Path, available: dict[str, Path], wanted: list[str] | None) -> list[str]:
    """The trajectories to import: `wanted` ("12" or "12.txt"), all of them (in numeric order) for None."""
    if wanted is None:
        names = sorted(available, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    else:
        names = [str(t).removesuffix(".txt") for t in wanted]
        unknown = [n for n in names if n not in available]
        if unknown:
            raise DatasetError(f"{traj_dir} has no trajectories {unknown} ({len(available)} present).")
    if not names:
        raise DatasetError(f"{traj_dir} holds no trajectories (<n>.txt).")
    return names


def _trajectory_screens(name: str, screen_dir: Path, count: int) -> FileScreens:
    """The screens of a trajectory of `count` frames, `<frame>.png` in `screen_dir` (missing ones as None)."""
    if not screen_dir.is_dir():
        raise DatasetError(f"{name}: its screens folder {screen_dir} is missing.")
    paths: list[Path | None] = [None] * count
    for entry in os.scandir(screen_dir):
        stem, _, ext = entry.name.partition(".")
        if ext == "png" and stem.isdigit() and int(stem) < count:
            paths[int(stem)] = Path(entry.path)
    return FileScreens(paths, [f"{screen_dir}/{i}.png" for i in range(count)])


def _plan_agc(run: ImportRun, rows: _AgcRows, name: str, screen_dir: Path) -> EpisodePlan:
    """Row n's action is pressed during frame n, on screen n. Row n's reward and terminal flag are read from
    the console's RAM before frame n is emulated (the recorder, Javatari's `AtariConsole.clockPulse`, calls
    `game.step(ram)` and then `tia.frame()`), so they are the outcome of row n-1's action. The file thus
    holds the outcome of every action but the last row's (pressed on the last screen; neither its reward nor
    the screen after it was kept): rows 0 to count-2 are the actions, rewards 1 to count-1 their outcomes,
    and the score is their sum."""
    report = run.report
    count = len(rows.frames)
    screens = _trajectory_screens(name, screen_dir, count)
    if rows.rewards[0]:
        report.warnings.append(
            f"{name}: frame 0 has reward {rows.rewards[0]:g}, which no action produced; left out"
        )
    steps, terminated = plan_frames(count - 1, rows.terminal[1:], run.preset.frame_skip, count - 1)
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

    return finish_plan(
        name, screens, steps, terminated, rows.actions[:-1], rows.rewards[1:], 0, where, run.actions
    )


# Over 60 lines for its docstring (the dataset's layout and alignment, for users); its body is 24 lines.
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
    check_out(out)
    folder, canonical = _agc_folder(root, game)
    run = start_import("agc", spec_for(canonical, preset), out, unknown_action, off_palette, source_palette)
    traj_dir = root / "trajectories" / folder
    available = {p.stem: p for p in traj_dir.glob("*.txt")}
    plans = [
        _plan_agc(run, _parse_agc(available[name]), f"trajectory {name}", root / "screens" / folder / name)
        for name in _trajectory_names(traj_dir, available, trajectories)
    ]
    details = {
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
    }
    write_plans(run, out, Source(kind="import", name="agc", details=details), plans, keep_rgb, progress)
    return run.report
