"""Demonstration datasets: Minari datasets holding the agent's exact view, losslessly compressed.

Layout (Minari's, so `minari.MinariDataset(path / "data")` reads it too):

    <path>/data/metadata.json     Minari's metadata, plus an "imitax" block: game, preset and every
                                  preprocessing setting, action ids and meanings, source, seeds, rates,
                                  noise, versions
    <path>/data/main_data.hdf5    one group per episode, "episode_<i>", with
        observations   (T+1, 84, 84) uint8  the newest preprocessed frame of each observation (the
                                             agent's stack is rebuilt from them, first frame repeated
                                             before an episode's start), HDF5 gzip: lossless
        actions        (T,) int64           actions executed, indices into the preset's action set
        rewards        (T,) float64         unclipped game rewards
        terminations   (T,) bool
        truncations    (T,) bool
        infos/label    (T,) int64           the action to imitate (an expert's intended action; the
                                             executed one for a person or an agent)
        infos/...      optional per-step extras: frame_number, lives, rgb (raw 210x160 screens),
                       state (emulator states, to restore), gaze...

Episodes are written one at a time as they end, so a recorder stopped mid-way keeps every finished one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import h5py
import numpy as np

from imitax.disk import check_room, reporting_full_disk
from imitax.types import EnvSpec

FORMAT_VERSION = 1
DATA_DIR = "data"
HDF5_FILE = "main_data.hdf5"
METADATA_FILE = "metadata.json"
LOCK_FILE = ".writer.lock"
COMPRESSION = {"compression": "gzip", "compression_opts": 4}


class DatasetError(ValueError):
    """A dataset that cannot be read or used as asked; the message names the problem and the episode."""


class Episode(NamedTuple):
    """One episode, Minari's convention: T steps, T+1 observations."""

    frames: np.ndarray  # (T+1, H, W) uint8
    actions: np.ndarray  # (T,) int64, executed
    labels: np.ndarray  # (T,) int64, to imitate
    rewards: np.ndarray  # (T,) float64, unclipped
    terminations: np.ndarray  # (T,) bool
    truncations: np.ndarray  # (T,) bool
    extras: dict[str, np.ndarray] | None = None  # per-step extras (see the module docstring)
    seed: int | None = None

    @property
    def num_steps(self) -> int:
        return len(self.actions)

    @property
    def score(self) -> float:
        return float(np.sum(self.rewards))


@dataclasses.dataclass(frozen=True)
class Source:
    """Who produced a dataset."""

    kind: str
    """"human", "expert", "agent" or "import"."""
    name: str
    """The expert's name, the player, the checkpoint path or the imported dataset."""
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Anything else worth keeping: epsilon, noise, the importer's settings..."""


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("imitax", "ale-py", "gymnasium", "minari", "envpool", "h5py", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _minari_metadata(dataset_id: str, spec: EnvSpec) -> dict[str, Any]:
    from minari.serialization import serialize_space

    frame = gym.spaces.Box(0, 255, spec.frame_shape, np.uint8)
    return {
        "dataset_id": dataset_id,
        "observation_space": serialize_space(frame),
        "action_space": serialize_space(gym.spaces.Discrete(spec.num_actions)),
        "data_format": "hdf5",
        "jpeg_encoding": False,
        "minari_version": importlib.metadata.version("minari"),
        "total_episodes": 0,
        "total_steps": 0,
        "dataset_size": 0.0,
        "algorithm_name": "",
        "author": [],
        "author_email": [],
        "code_permalink": "",
    }


def check_new_dataset(path: Path, how_to_add: str) -> None:
    """Refuses a `path` for a new dataset when it already holds anything, before any work toward it is done
    (the writer checks again when it opens). `how_to_add` ends the message for an existing dataset: how
    the command adds to one, or that it never does."""
    if (path / DATA_DIR / METADATA_FILE).exists():
        raise DatasetError(f"{path} already holds a dataset; choose another path ({how_to_add}).")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DatasetError(f"{path} exists and is not an empty directory; choose an empty or new path.")


class DatasetWriter:
    """Writes episodes of one game and preset into a dataset, each as soon as it is given.

    Args:
      path: the dataset directory.
      spec: the environment the episodes come from (its preset must be set).
      source: who produced them.
      extra_info: more of the "imitax" metadata block (seeds, frame rate, noise...).
      append: add to an existing dataset of the same game and preset instead of refusing to touch it.
    """

    def __init__(
        self,
        path: str | Path,
        spec: EnvSpec,
        source: Source,
        extra_info: dict | None = None,
        append: bool = False,
    ):
        if spec.preset is None:
            raise ValueError("demonstration datasets hold Atari games; this spec has no preset")
        self.path = Path(path)
        self.data = self.path / DATA_DIR
        self.spec = spec
        if self.path.exists() and not self.path.is_dir():
            raise DatasetError(f"--out {self.path} is a file; a dataset is a directory. Choose another path.")
        exists = (self.data / METADATA_FILE).exists()
        if exists and not append:
            raise DatasetError(
                f"{self.path} already holds a dataset. Choose another path, or append to it (--append)."
            )
        if exists:
            dataset = load_dataset(self.path)
            check_compatible(dataset.info, spec, what=f"appending to {self.path}")
            with h5py.File(self.data / HDF5_FILE, "r") as file:
                self._next = len(file)
            return
        if self.path.exists() and any(self.path.iterdir()):
            raise DatasetError(f"{self.path} exists and is not a dataset; choose an empty or new path.")
        self.data.mkdir(parents=True, exist_ok=True)
        metadata = _minari_metadata(self.path.name, spec)
        metadata["imitax"] = {
            "format_version": FORMAT_VERSION,
            "game": spec.name,
            "preset": spec.preset.settings(training=False),
            "frame_shape": list(spec.frame_shape),
            "frame_stack": spec.frame_stack,
            "action_ids": list(spec.action_ids),
            "action_meanings": list(spec.action_meanings),
            "source": dataclasses.asdict(source),
            "versions": _versions(),
            **(extra_info or {}),
        }
        write_json(self.data / METADATA_FILE, metadata)
        with h5py.File(self.data / HDF5_FILE, "w", track_order=True):
            pass
        self._next = 0

    @property
    def next_index(self) -> int:
        """Index the next episode gets (episodes already in the dataset when appending)."""
        return self._next

    def add(self, episode: Episode) -> int:
        """Writes one episode (closing the file after it) and returns its index.

        Writers of one dataset take turns: each episode is written under an exclusive lock, and its index
        is read from the file then, so two `--append` recorders both keep every finished game. A full disk
        is a `DiskFullError`, raised after the cut episode is taken out again: the ones before stay whole.
        """
        _check_episode(episode, self.spec, self._next)
        with writer_lock(self.data), h5py.File(self.data / HDF5_FILE, "a", track_order=True) as file:
            index = len(file)  # episodes another writer added meanwhile count too
            then = f"The {index} episodes before it are intact: free some space and add more with --append."
            name = f"episode_{index}"
            needed = _episode_bytes(episode) + (self.data / METADATA_FILE).stat().st_size
            what = f"episode {index} of {self.path}"
            check_room(self.data, needed, what, then)
            try:
                with reporting_full_disk(self.data, what, needed, then):
                    _write_episode(file.create_group(name), index, episode)
                    file.flush()
                    self._update_counts(file)
            except BaseException:  # a full disk, or a second Ctrl-C mid-write: no half episode stays
                if name in file:
                    del file[name]
                (self.data / METADATA_FILE).with_suffix(".tmp").unlink(missing_ok=True)
                raise
            self._next = index + 1
        return index

    def truncate(self, episodes: int) -> None:
        """Takes out every episode from index `episodes` on: what a resumed writer wrote after the point
        its run went back to. (HDF5 keeps the freed space in the file until it is repacked.)"""
        with writer_lock(self.data), h5py.File(self.data / HDF5_FILE, "a", track_order=True) as file:
            for name in [name for name in file if int(name.removeprefix("episode_")) >= episodes]:
                del file[name]
            self._update_counts(file)
            self._next = len(file)

    @property
    def info(self) -> dict[str, Any]:
        """The metadata's "imitax" block as it is on disk now (a `Dataset`'s `info`)."""
        return json.loads((self.data / METADATA_FILE).read_text())["imitax"]

    def set_info(self, **fields: Any) -> None:
        """Sets fields of the metadata's "imitax" block: a writer's own bookkeeping (DAgger's episodes per
        round, say), kept beside the episodes it describes."""
        with writer_lock(self.data):
            metadata = json.loads((self.data / METADATA_FILE).read_text())
            metadata["imitax"].update(fields)
            write_json(self.data / METADATA_FILE, metadata)

    def _update_counts(self, file: h5py.File) -> None:
        metadata = json.loads((self.data / METADATA_FILE).read_text())
        steps = sum(int(file[name].attrs["total_steps"]) for name in file)
        metadata["total_episodes"] = len(file)
        metadata["total_steps"] = steps
        metadata["dataset_size"] = round((self.data / HDF5_FILE).stat().st_size / 2**20, 3)
        write_json(self.data / METADATA_FILE, metadata)


@contextlib.contextmanager
def writer_lock(data: Path) -> Iterator[None]:
    """An exclusive lock on a dataset for one write; a second writer waits for it (POSIX advisory lock)."""
    with (data / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_episode(group: h5py.Group, index: int, episode: Episode) -> None:
    group.attrs["id"] = index
    group.attrs["total_steps"] = episode.num_steps
    if episode.seed is not None:
        group.attrs["seed"] = episode.seed
    _put(group, "observations", episode.frames)
    _put(group, "actions", episode.actions.astype(np.int64))
    _put(group, "rewards", episode.rewards.astype(np.float64))
    _put(group, "terminations", episode.terminations.astype(bool))
    _put(group, "truncations", episode.truncations.astype(bool))
    infos = group.create_group("infos")
    _put(infos, "label", episode.labels.astype(np.int64))
    for name, values in (episode.extras or {}).items():
        _put(infos, name, values)


def _episode_bytes(episode: Episode) -> int:
    """About what an episode takes on disk: its small arrays as they are, its frames (and any other bulky
    extra) compressed, which consecutive Atari frames do thirtyfold and more (a write that needs more
    than this still ends in a DiskFullError, after the cut episode is taken out)."""
    arrays = [
        episode.frames,
        episode.actions,
        episode.rewards,
        episode.labels,
        *(episode.extras or {}).values(),
    ]
    sizes = [np.asarray(a).nbytes for a in arrays]
    return sum(size // 30 if size > 1 << 16 else size * 2 for size in sizes)


def _put(group: h5py.Group, name: str, values: np.ndarray) -> None:
    """Writes one per-step array, checksummed (a damaged chunk is detected, not read as data) and, when it
    is bulky (frames, screens), compressed in time-major chunks so consecutive frames compress together."""
    values = np.asarray(values)
    if values.dtype == object:
        raise TypeError(f"{name}: store variable-length rows as fixed-width arrays with offsets or lengths")
    if values.size == 0:
        group.create_dataset(name, data=values)
        return
    row_bytes = max(1, values[0].nbytes if values.ndim else values.nbytes)
    chunk = (min(len(values), max(1, (1 << 20) // row_bytes)), *values.shape[1:]) if values.ndim else None
    bulky = values.nbytes > 1 << 16 and values.ndim >= 2
    group.create_dataset(
        name, data=values, chunks=chunk, fletcher32=chunk is not None, **(COMPRESSION if bulky else {})
    )


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _check_episode(episode: Episode, spec: EnvSpec, index: int) -> None:
    steps = episode.num_steps
    problems = []
    if episode.frames.shape != (steps + 1, *spec.frame_shape) or episode.frames.dtype != np.uint8:
        problems.append(
            f"frames {episode.frames.shape} {episode.frames.dtype}, want "
            f"{(steps + 1, *spec.frame_shape)} uint8"
        )
    for name in ("labels", "rewards", "terminations", "truncations"):
        if len(getattr(episode, name)) != steps:
            problems.append(f"{name} has {len(getattr(episode, name))} entries for {steps} actions")
    for name in ("actions", "labels"):
        values = getattr(episode, name)
        if steps and (values.min() < 0 or values.max() >= spec.num_actions):
            problems.append(f"{name} outside 0..{spec.num_actions - 1}")
    if problems:
        raise DatasetError(f"episode {index} cannot be written: " + "; ".join(problems))


def check_compatible(info: dict[str, Any], spec: EnvSpec, what: str) -> None:
    """Refuses to mix a dataset with an environment whose agent would see other frames or actions."""
    if spec.preset is None:
        raise DatasetError(f"{what}: {spec.name} is not an Atari game; demonstrations are Atari games.")
    recorded = info["preset"]
    wanted = spec.preset.settings(training=False)
    problems = []
    if info["game"] != spec.name:
        problems.append(f"game: dataset has {info['game']}, environment is {spec.name}")
    for key in ("frame_skip", "frame_stack", "image_size"):
        if recorded[key] != wanted[key]:
            problems.append(
                f"{key}: dataset has {recorded[key]}, preset {spec.preset.name!r} has {wanted[key]}"
            )
    missing = set(info["action_ids"]) - set(spec.action_ids)
    if missing:
        names = [n for i, n in zip(info["action_ids"], info["action_meanings"], strict=True) if i in missing]
        problems.append(f"actions {names} of the dataset are not in the environment's action set")
    if problems:
        raise DatasetError(
            f"{what}: the dataset was recorded under preset {recorded['name']!r} and cannot be used with "
            f"{spec.name} under preset {spec.preset.name!r}:\n  "
            + "\n  ".join(problems)
            + "\nRecord or import the demonstrations with the same preset."
        )


def action_index_map(info: dict[str, Any], spec: EnvSpec) -> np.ndarray:
    """Maps a dataset's action indices to the environment's (by ALE action id): the documented conversion
    between the minimal and the full action set. Call `check_compatible` first."""
    position = {a: i for i, a in enumerate(spec.action_ids)}
    return np.array([position[a] for a in info["action_ids"]], np.int64)


class Dataset:
    """A demonstration dataset on disk, read one episode at a time."""

    def __init__(self, path: Path, metadata: dict[str, Any]):
        self.path = path
        self.metadata = metadata
        self.info: dict[str, Any] = metadata["imitax"]
        self._file = path / DATA_DIR / HDF5_FILE

    def _open(self) -> h5py.File:
        """The episodes' file, read-only; a damaged one is named with what to do about it."""
        try:
            return h5py.File(self._file, "r")
        except OSError as err:
            raise DatasetError(
                f"{self.path}: {DATA_DIR}/{HDF5_FILE} cannot be opened ({err}). Run `imitax data verify "
                f"{self.path}` to see what is damaged; `--repair True` restores a truncated file's earlier "
                "episodes."
            ) from None

    @property
    def indices(self) -> list[int]:
        """Episodes to use: all but those `imitax data verify --repair` found damaged."""
        broken = set(self.info.get("broken_episodes", ()))
        with self._open() as file:
            return [i for i in range(len(file)) if i not in broken]

    @property
    def num_episodes(self) -> int:
        return len(self.indices)

    @property
    def total_steps(self) -> int:
        return int(self.summary_arrays()["lengths"].sum())

    def episode(self, index: int, extras: bool | tuple[str, ...] = False) -> Episode:
        """Episode `index`; `extras` loads all (True) or some of its per-step extras."""
        try:
            with self._open() as file:
                group = file[f"episode_{index}"]
                infos = group["infos"]
                names = [n for n in infos if n != "label"] if extras is True else list(extras or ())
                return Episode(
                    frames=group["observations"][()],
                    actions=group["actions"][()],
                    labels=infos["label"][()],
                    rewards=group["rewards"][()],
                    terminations=group["terminations"][()],
                    truncations=group["truncations"][()],
                    extras={name: infos[name][()] for name in names},
                    seed=int(group.attrs["seed"]) if "seed" in group.attrs else None,
                )
        except KeyError as err:
            raise DatasetError(f"{self.path}: episode {index} is missing or incomplete ({err}).") from None
        except OSError as err:
            raise DatasetError(
                f"{self.path}: episode {index} cannot be read; the file is damaged ({err})."
            ) from None

    def episodes(self, extras: bool | tuple[str, ...] = False) -> Iterator[Episode]:
        for index in self.indices:
            yield self.episode(index, extras)

    def summary_arrays(self) -> dict[str, np.ndarray]:
        """Per-episode lengths and scores, and all actions, read without the frames."""
        lengths, scores, actions = [], [], []
        indices = self.indices
        with self._open() as file:
            for index in indices:
                try:
                    group = file[f"episode_{index}"]
                    rewards = group["rewards"][()]
                    actions.append(group["actions"][()])
                except (KeyError, OSError) as err:
                    raise DatasetError(
                        f"{self.path}: episode {index} is damaged ({err}). `imitax data verify {self.path} "
                        "--repair True` sets damaged episodes aside and keeps the rest readable."
                    ) from None
                lengths.append(len(rewards))
                scores.append(float(rewards.sum()))
        return {
            "lengths": np.array(lengths),
            "scores": np.array(scores),
            "actions": np.concatenate(actions) if actions else np.zeros(0, np.int64),
        }


def load_dataset(path: str | Path) -> Dataset:
    """Opens a dataset; a clear error when `path` holds none or its metadata is not imitax's."""
    path = Path(path)
    metadata_file = path / DATA_DIR / METADATA_FILE
    if not metadata_file.exists():
        hint = " (pass the dataset directory, the one holding data/)" if path.name == DATA_DIR else ""
        raise DatasetError(f"{path} is not a dataset: {DATA_DIR}/{METADATA_FILE} is missing{hint}.")
    try:
        metadata = json.loads(metadata_file.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(f"{metadata_file} is damaged: {err}.") from None
    if "imitax" not in metadata:
        raise DatasetError(
            f"{path} is a Minari dataset without imitax's metadata; bring it in with "
            f"`imitax data import minari {path} --game GAME --out NEW_PATH`."
        )
    if not (path / DATA_DIR / HDF5_FILE).exists():
        raise DatasetError(f"{path}: {DATA_DIR}/{HDF5_FILE} is missing.")
    return Dataset(path, metadata)
