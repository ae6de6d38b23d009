"""`imitax data relabel`: the built-in expert's action for every stored step of any dataset.

A dataset recorded with `--keep-states` holds the emulator state of every observation; restoring it
lets an expert decide there, whatever policy (a person, an agent, a noisy expert) reached it. This is
the oracle of DAgger (Ross et al. 2011, "A Reduction of Imitation Learning and Structured Prediction to
No-Regret Online Learning"): labels for the states a learner visits. `relabel_episodes` does it in memory
(episodes from `imitax.data.record.play_episodes` with `keep_states`), `relabel` in a dataset's file.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
from imitax.envs import AtariPreset

if TYPE_CHECKING:
    from imitax.experts import Oracle


@dataclass(frozen=True)
class RelabelConfig:
    """Label every step of a dataset with a built-in expert's action (the DAgger oracle)."""

    dataset: tyro.conf.Positional[str]
    """The dataset directory; it must hold emulator states (recorded with --keep-states True)."""
    expert: str | None = None
    """Expert to ask (default: the game's default expert)."""
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


def relabel(config: RelabelConfig) -> RelabelReport:
    """Writes the expert's labels into the dataset (the old ones move to `infos/label_previous`).

    Raises:
      DatasetError: the dataset has no emulator states, or the expert does not play its game. Nothing is
        written then.
    """
    from imitax.experts import Oracle

    dataset = load_dataset(config.dataset)
    info = dataset.info
    if not info.get("restorable_states"):
        raise DatasetError(
            f"{config.dataset} holds no emulator states, so no expert can label its steps. Record it again "
            "with --keep-states True (about 350 bytes a step for Pong)."
        )
    preset = AtariPreset(**{f.name: info["preset"][f.name] for f in dataclasses.fields(AtariPreset)})
    oracle = Oracle(info["game"], preset, config.expert, config.batch)
    start = time.perf_counter()
    new_labels: dict[int, np.ndarray] = {}
    steps = changed = 0
    for index in dataset.indices:
        episode = dataset.episode(index, extras=("state", "state_length"))
        labels = oracle_labels(episode, oracle)
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
    _write_labels(Path(config.dataset), new_labels, oracle.expert.name)
    return RelabelReport(config.dataset, oracle.expert.name, steps, changed, seconds)


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
