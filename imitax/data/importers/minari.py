"""Minari datasets of ALE games (e.g. `minari.DataCollector` on `ALE/Pong-v5` with `frameskip=1`, or an
imitax dataset), made into imitax episodes by `import_minari`.

Holds what only Minari has: finding a dataset by path or id, checking what its observations are (raw screens
at frameskip 1 or at the preset's, or frames already preprocessed) and how its actions map to ALE's, and
reading it one episode at a time, since a dataset can be larger than memory. Raw screens are planned like
the other sources' (`imitax.data.importers.frames`); preprocessed frames are copied.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imitax.data.dataset import (
    DATA_DIR,
    METADATA_FILE,
    DatasetError,
    Episode,
    Source,
    action_index_map,
    check_compatible,
)
from imitax.data.importers.frames import (
    SCREEN_SHAPE,
    ArrayScreens,
    EpisodePlan,
    finish_plan,
    plan_frames,
    plan_rows,
)
from imitax.data.importers.report import ImportReport, Progress
from imitax.data.importers.writing import (
    Advance,
    EpisodeSource,
    ImportRun,
    check_out,
    episode_of,
    spec_for,
    start_import,
    write_episodes,
)
from imitax.envs import AtariPreset, EnvSpec, atari_spec, canonical_game

# ---------------------------------------------------------------------------------------------------------
# Finding a dataset and checking what it holds.


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


# ---------------------------------------------------------------------------------------------------------
# Reading episodes, one at a time.


@dataclass
class _Recorded:
    """One Minari episode as recorded: its actions as full-set ALE ids, rewards and game overs per step."""

    name: str
    data: Any  # minari's EpisodeData
    actions: np.ndarray
    rewards: np.ndarray
    over: np.ndarray
    where: Callable[[int], str]  # names step n in errors


def _episodes(
    run: ImportRun, dataset: Any, data_path: Path, layout: _MinariLayout, keep_rgb: bool
) -> EpisodeSource:
    """The dataset's episodes, read, planned and made one at a time (progress counts episodes)."""

    def items() -> Iterator[EpisodePlan | tuple[str, Episode]]:
        for data in dataset.iterate_episodes():
            name = f"episode {data.id}"
            row_actions = layout.full_ids[np.asarray(data.actions, np.int64)]
            rewards = np.asarray(data.rewards, np.float64)
            over = np.asarray(data.terminations, bool)

            def where(n: int, name: str = name) -> str:
                return f"{data_path}: {name}, step {n}"

            recorded = _Recorded(name, data, row_actions, rewards, over, where)
            if layout.frameskip is not None:
                yield _plan_screens(run, recorded, data_path, layout.frameskip)
            elif len(row_actions):
                yield name, _copied_episode(run, dataset, layout, recorded)
            else:
                run.report.skipped_episodes += 1

    def episodes(advance: Advance) -> Iterator[tuple[str, Episode]]:
        for item in items():
            if isinstance(item, EpisodePlan):
                yield from episode_of(run, item, keep_rgb, lambda n: None)
            else:
                yield item
            advance(1)

    return episodes


def _copied_episode(run: ImportRun, dataset: Any, layout: _MinariLayout, recorded: _Recorded) -> Episode:
    """An episode of frames already preprocessed, copied as they are; an imitax dataset keeps its labels."""
    count = len(recorded.actions)
    actions = np.array(
        [run.actions(int(a), recorded.where(n)) for n, a in enumerate(recorded.actions)], np.int64
    )
    labels = actions
    if layout.labels and "label" in recorded.data.infos:
        labels = action_index_map(dataset.storage.metadata["imitax"], run.spec)[recorded.data.infos["label"]]
    ends = np.arange(count) == count - 1
    over = recorded.over
    return Episode(
        frames=np.asarray(recorded.data.observations, np.uint8),
        actions=actions,
        labels=np.asarray(labels, np.int64),
        rewards=recorded.rewards,
        terminations=over,
        truncations=(np.asarray(recorded.data.truncations, bool) | ends) & ~over,
        extras={"frame_number": np.arange(count + 1, dtype=np.int64) * run.preset.frame_skip},
    )


def _plan_screens(run: ImportRun, recorded: _Recorded, data_path: Path, frameskip: int) -> EpisodePlan:
    """An episode of raw screens, planned: max-pooled frame-skip groups at frameskip 1, else one screen per
    step."""
    count = len(recorded.actions)
    screens = ArrayScreens(np.asarray(recorded.data.observations), f"{data_path}: {recorded.name}")
    skip = run.preset.frame_skip
    if frameskip == 1:
        steps, terminated = plan_frames(count, recorded.over, skip, count)
    else:
        steps, terminated = plan_rows(count, recorded.over, 1, count + 1, lambda i: i * skip)
    run.report.frames_dropped += (count - sum(s.length for s in steps)) * frameskip
    return finish_plan(
        recorded.name,
        screens,
        steps,
        terminated,
        recorded.actions,
        recorded.rewards,
        0,
        recorded.where,
        run.actions,
    )


# ---------------------------------------------------------------------------------------------------------
# The import.


# Over 60 lines for its docstring (what observations it supports, for users); its body is 25 lines.
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
    import minari  # only when a Minari import runs: the other importers do without it

    out = Path(out)
    check_out(out)
    spec = spec_for(game, preset)
    data_path = _minari_data_path(source)
    try:
        dataset = minari.MinariDataset(data_path)
    except Exception as err:  # minari raises many kinds for a dataset it cannot read
        raise DatasetError(f"{data_path} cannot be read by minari: {err}") from None
    run = start_import("minari", spec, out, unknown_action, off_palette)
    layout = _minari_layout(dataset, data_path, spec, run.report)
    if keep_rgb and dataset.observation_space.shape == SCREEN_SHAPE:
        run.report.warnings.append("keep_rgb: the dataset holds grayscale screens, so no RGB is kept")
    details = {
        "dataset": str(data_path.resolve()),
        "env_spec": dataset.env_spec.id if dataset.env_spec is not None else None,
        "frameskip": layout.frameskip,
        "unknown_action": unknown_action,
        "off_palette": off_palette,
    }
    origin = Source(kind="import", name="minari", details=details)
    episodes = _episodes(run, dataset, data_path, layout, keep_rgb)
    write_episodes(run, out, origin, dataset.total_episodes, progress, episodes)
    return run.report
