"""Starting and finishing an import, the same for every source: the checks made before any work, what one
import call works with (`ImportRun`), and writing its episodes into a new dataset.

Nothing is half-written: AGC and Atari-HEAD imports read and check every label file, action and screen file
before writing (screens inside an archive, and Minari episodes, are checked as they are read), and any
failure removes everything the call created (`write_episodes`). An existing dataset at `out` is never
touched (`check_out`, and the writer).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imitax.data.dataset import DATA_DIR, DatasetError, DatasetWriter, Episode, Source, check_new_dataset
from imitax.data.importers.frames import ActionMap, EpisodePlan, build_episode
from imitax.data.importers.report import ImportReport, Progress
from imitax.data.screens import AleGrayscale
from imitax.envs import AtariPreset, EnvSpec, atari_spec, get_preset

Advance = Callable[[int], None]
"""Called as advance(n) when n more screens (or episodes) are done: moves the progress on."""

EpisodeSource = Callable[[Advance], Iterator[tuple[str, Episode]]]
"""Called with the progress's `advance`, yields (name, episode) to write, one at a time."""


def check_out(out: Path) -> None:
    """Refuses an `out` that holds anything, before any work (the writer checks again)."""
    check_new_dataset(out, "imports never append")


def spec_for(game: str, preset: str | AtariPreset) -> EnvSpec:
    """The game's spec under the preset, as an evaluation environment would have it."""
    return atari_spec(game, get_preset(preset), training=False)


@dataclass
class ImportRun:
    """What one import call works with: the game under the preset, the report it fills, how it maps actions
    and how it reads screens to grayscale."""

    spec: EnvSpec
    preset: AtariPreset
    report: ImportReport
    actions: ActionMap
    to_gray: AleGrayscale


def start_import(
    source: str,
    spec: EnvSpec,
    out: Path,
    unknown_action: str,
    off_palette: str,
    source_palette: np.ndarray | None = None,
) -> ImportRun:
    """An import of `source` ("agc", "atari-head", "minari") into `out`; checks `unknown_action`, then the
    palette arguments (`AleGrayscale`), before the slow part."""
    assert spec.preset is not None
    report = ImportReport(source, spec.name, spec.preset.name, out)
    actions = ActionMap(spec, unknown_action, report)
    to_gray = AleGrayscale(off_palette, source_palette)
    return ImportRun(spec, spec.preset, report, actions, to_gray)


@contextlib.contextmanager
def progress_reporter(progress: bool | Progress | None, total: int, description: str) -> Iterator[Advance]:
    """An `advance(n)` for `progress`: nothing for None or False, a rich progress bar for True, else calls
    `progress(done, total)`."""
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


def write_episodes(
    run: ImportRun,
    out: Path,
    source: Source,
    total: int,
    progress: bool | Progress | None,
    episodes: EpisodeSource,
) -> None:
    """Writes the episodes `episodes(advance)` yields, one at a time; on any failure removes what this call
    created, and only that (never a dataset that was there before: `check_out` and the writer refuse it)."""
    created = out
    while not created.parent.exists():  # the top-most folder this call creates
        created = created.parent
    existed = out.exists()
    try:
        writer = DatasetWriter(out, spec=run.spec, source=source)
        with progress_reporter(progress, total, f"importing {source.name}") as advance:
            for name, episode in episodes(advance):
                writer.add(episode)
                _count_written(run, name, episode)
        if not run.report.episodes:
            raise DatasetError("nothing to import: no episode has an agent step.")
    except BaseException:
        shutil.rmtree(out / DATA_DIR if existed else created, ignore_errors=True)
        raise
    _report_conversions(run)


def _count_written(run: ImportRun, name: str, episode: Episode) -> None:
    """Adds a written episode to the report, warning when it is longer than the environment allows."""
    report = run.report
    report.episodes += 1
    report.steps += episode.num_steps
    report.scores.append(episode.score)
    report.episode_names.append(name)
    report.terminated += int(episode.terminations[-1])
    report.truncated += int(not episode.terminations[-1])
    if episode.num_steps > run.preset.max_episode_steps:
        report.warnings.append(
            f"{name} has {episode.num_steps} steps, more than the preset's limit of "
            f"{run.preset.max_episode_steps} (the environment would truncate it)"
        )


def _report_conversions(run: ImportRun) -> None:
    """Adds to the report what reading the screens and mapping the actions had to approximate."""
    report, to_gray = run.report, run.to_gray
    report.pixels, report.off_palette_pixels = to_gray.pixels, to_gray.off_pixels
    warning = to_gray.summary()
    if warning:
        report.warnings.append(warning)
    if report.unknown_actions:
        report.warnings.append(
            f"{sum(report.unknown_actions.values())} steps used actions {run.spec.name} lacks "
            f"under preset {run.preset.name!r}: {report.unknown_actions}"
        )


def episode_of(
    run: ImportRun, plan: EpisodePlan, keep_rgb: bool, advance: Advance
) -> Iterator[tuple[str, Episode]]:
    """The planned episode, its screens read (none if it has no step)."""
    if not plan.steps:
        run.report.skipped_episodes += 1
        return
    run.report.mixed_action_steps += plan.mixed
    yield plan.name, build_episode(plan, run.to_gray, run.preset.image_size, keep_rgb, advance)


def write_plans(
    run: ImportRun,
    out: Path,
    source: Source,
    plans: list[EpisodePlan],
    keep_rgb: bool,
    progress: bool | Progress | None,
) -> None:
    """Writes episodes planned in full beforehand, their screens read one episode at a time (progress counts
    screens)."""

    def episodes(advance: Advance) -> Iterator[tuple[str, Episode]]:
        for i, plan in enumerate(plans):
            yield from episode_of(run, plan, keep_rgb, advance)
            if i + 1 < len(plans) and plans[i + 1].screens.store is not plan.screens.store:
                plan.screens.release()  # one trial's archive in memory at a time

    total = sum(len(p.screens_needed) for p in plans)
    write_episodes(run, out, source, total, progress, episodes)
