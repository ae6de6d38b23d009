"""`imitax data relabel`: a teacher's action for every stored step of any dataset.

A dataset recorded with `--keep-states` holds the emulator state of every observation; restoring it
lets an expert decide there, whatever policy (a person, an agent, a noisy expert) reached it. This is
the oracle of DAgger (Ross et al. 2011, "A Reduction of Imitation Learning and Structured Prediction to
No-Regret Online Learning"): labels for the states a learner visits. `relabel_episodes` does it in memory
(episodes from `imitax.data.record.play_episodes` with `keep_states`), `relabel` in a dataset's file.
A trained agent as the teacher (`--expert RUN_DIR`) needs no emulator states: it reads the stored frames.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tyro

from imitax.data.dataset import (
    DATA_DIR,
    HDF5_FILE,
    METADATA_FILE,
    DatasetError,
    Episode,
    load_dataset,
    write_json,
    writer_lock,
)
from imitax.data.record import unpack_state
from imitax.envs import AtariPreset, atari_spec
from imitax.experts import Oracle
from imitax.experts.base import SightExpert
from imitax.train.teacher import AgentTeacher, make_teacher


@dataclass(frozen=True)
class RelabelConfig:
    """Label every step of a dataset with a built-in expert's action (the DAgger oracle)."""

    dataset: tyro.conf.Positional[str]
    """The dataset directory; it must hold emulator states (recorded with --keep-states True)."""
    expert: str | None = None
    """Who labels: a built-in expert (default: the game's), which needs the dataset's emulator states, or
    the run directory of a trained agent of the dataset's game and preset, which reads its frames."""
    batch: int = 8
    """Emulators labelled together."""
    quiet: bool = False
    """No progress lines."""


@dataclass(frozen=True)
class RelabelReport:
    path: str
    expert: str
    steps: int
    changed: int
    seconds: float

    @property
    def labels_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        share = 100 * self.changed / max(1, self.steps)
        return (
            f"Relabelled {self.steps:,} steps of {self.path} with {self.expert}: {self.changed:,} labels "
            f"changed ({share:.1f}%), {self.labels_per_s:,.0f} labels/s. The previous labels are kept "
            "as infos/label_previous."
        )


def oracle_labels(episode: Episode, oracle: Oracle) -> np.ndarray:
    """The oracle's action in each of the episode's T states (from `extras["state"]`), int64 (T,).

    Raises:
      DatasetError: the episode holds no emulator states.
    """
    extras = episode.extras or {}
    if "state" not in extras or "state_length" not in extras:
        raise DatasetError(
            "this episode holds no emulator states, so no expert can label its steps: record it with "
            "keep_states=True (and load it with its extras)."
        )
    packed, lengths = extras["state"], extras["state_length"]
    states = [unpack_state(packed[t], int(lengths[t])) for t in range(episode.num_steps)]
    return oracle.label(states).astype(np.int64)


def relabel_episodes(episodes: Iterable[Episode], oracle: Oracle) -> list[Episode]:
    """The episodes with the oracle's labels, in memory: its expert's action in every stored state.

    Raises:
      DatasetError: an episode holds no emulator states.
    """
    return [episode._replace(labels=oracle_labels(episode, oracle)) for episode in episodes]


def stacked_frames(frames: np.ndarray, steps: np.ndarray, frame_stack: int) -> np.ndarray:
    """The observations at `steps` of an episode's frames (T+1, H, W): each the frame and the
    `frame_stack - 1` before it, the first frame repeated before the episode's start (as the envs do)."""
    offsets = np.arange(frame_stack) - (frame_stack - 1)
    return frames[np.maximum(steps[:, None] + offsets, 0)]


def observation_labels(
    episode: Episode, label: Callable[[np.ndarray], np.ndarray], frame_stack: int, chunk: int = 128
) -> np.ndarray:
    """A teacher's label at each of the episode's T steps, asked on its stored observations (`label`
    maps stacks (N, frame_stack, H, W) to action indices), int64."""
    labels = np.zeros(episode.num_steps, np.int64)
    for begin in range(0, episode.num_steps, chunk):
        steps = np.arange(begin, min(begin + chunk, episode.num_steps))
        labels[steps] = label(stacked_frames(episode.frames, steps, frame_stack))
    return labels


def _from_observations(
    teacher: Any, game: str, preset: AtariPreset
) -> Callable[[Episode], np.ndarray] | None:
    """Labelling from stored frames, for a teacher that decides from observations (a trained agent, a
    sight expert); None for one that needs emulator states."""
    if isinstance(teacher, AgentTeacher):
        stack = teacher.spec.frame_stack or 1
        return lambda episode: observation_labels(
            episode, teacher.label_observations, stack, 4 * teacher.batch
        )
    if isinstance(teacher, SightExpert):
        spec = atari_spec(game, preset, False)
        label = partial(teacher.label_observations, action_meanings=spec.action_meanings)
        return lambda episode: observation_labels(episode, label, spec.frame_stack or 1)
    return None


def relabel(config: RelabelConfig) -> RelabelReport:
    """Writes the teacher's labels into the dataset (the old ones move to `infos/label_previous`).

    A search expert decides in each stored emulator state; a sight expert and a trained agent
    (`--expert RUN_DIR`) on each stored observation, so any dataset of its game and preset can be
    relabelled by them.

    Raises:
      DatasetError: a built-in expert is asked but the dataset has no emulator states. ValueError: the
        teacher does not play the dataset's game or preset. Nothing is written then.
    """
    dataset = load_dataset(config.dataset)
    info = dataset.info
    preset = AtariPreset(**{f.name: info["preset"][f.name] for f in dataclasses.fields(AtariPreset)})
    teacher = make_teacher(config.expert, info["game"], preset)
    labelled = _from_observations(teacher, info["game"], preset)
    extras: tuple[str, ...] = ()
    if labelled is None:
        if not info.get("restorable_states"):
            raise DatasetError(
                f"{config.dataset} holds no emulator states, so no built-in expert can label its steps by "
                "search. Record it again with --keep-states True (about 350 bytes a step for Pong), or "
                "relabel it with a sight expert or a trained agent (--expert RUN_DIR), which read the "
                "stored frames."
            )
        oracle = Oracle(info["game"], preset, teacher.name, config.batch)
        extras = ("state", "state_length")

        labelled = partial(oracle_labels, oracle=oracle)

    start = time.perf_counter()
    new_labels: dict[int, np.ndarray] = {}
    steps = changed = 0
    for index in dataset.indices:
        episode = dataset.episode(index, extras=extras)
        labels = labelled(episode)
        new_labels[index] = labels
        steps += len(labels)
        changed += int((labels != episode.labels).sum())
        if not config.quiet:
            print(
                f"episode {index}: {len(labels):,} steps, {steps / (time.perf_counter() - start):,.0f} "
                "labels/s",
                flush=True,
            )
    seconds = time.perf_counter() - start
    _write_labels(Path(config.dataset), new_labels, teacher.name)
    return RelabelReport(config.dataset, teacher.name, steps, changed, seconds)


def _write_labels(path: Path, labels: dict[int, np.ndarray], expert: str) -> None:
    """Writes the labels into a copy of the file, then puts the copy in its place: a kill at any moment
    leaves either the old file or the new one, never a file torn between them."""
    data = path / DATA_DIR
    with writer_lock(data):
        copy = data / (HDF5_FILE + ".relabel")
        shutil.copyfile(data / HDF5_FILE, copy)
        with h5py.File(copy, "a") as file:
            for index, values in labels.items():
                infos = file[f"episode_{index}"]["infos"]
                if "label_previous" not in infos:
                    infos.move("label", "label_previous")
                else:
                    del infos["label"]
                infos.create_dataset("label", data=values, chunks=True, fletcher32=True)
        copy.replace(data / HDF5_FILE)
        metadata = json.loads((data / METADATA_FILE).read_text())
        metadata["imitax"]["labels"] = f"relabelled by {expert}"
        metadata["imitax"].setdefault("relabelled_by", []).append(expert)
        write_json(data / METADATA_FILE, metadata)
