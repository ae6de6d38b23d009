"""`imitax data info` and `imitax data verify`: what a dataset holds, and whether all of it is sound."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from imitax.data.dataset import DATA_DIR, HDF5_FILE, METADATA_FILE, Dataset, load_dataset


def dataset_info(dataset: Dataset) -> dict[str, Any]:
    """Episodes, steps, returns, the action histogram, source, preset and disk cost of a dataset."""
    arrays = dataset.summary_arrays()
    info = dataset.info
    meanings = info["action_meanings"]
    counts = np.bincount(arrays["actions"], minlength=len(meanings))
    scores = arrays["scores"]
    disk = (dataset.path / DATA_DIR / HDF5_FILE).stat().st_size
    steps = int(arrays["lengths"].sum())
    return {
        "path": str(dataset.path),
        "game": info["game"],
        "preset": info["preset"]["name"],
        "source": info["source"],
        "noise": info.get("noise"),
        "episodes": len(scores),
        "steps": steps,
        "return_mean": float(scores.mean()) if len(scores) else None,
        "return_min": float(scores.min()) if len(scores) else None,
        "return_max": float(scores.max()) if len(scores) else None,
        "returns": scores.tolist(),
        "actions": {name: int(c) for name, c in zip(meanings, counts, strict=True)},
        "extras": _extras(dataset),
        "disk_bytes": disk,
        "disk_bytes_per_step": disk / steps if steps else None,
        "unreadable": unreadable_episodes(dataset),
    }


def unreadable_episodes(dataset: Dataset) -> dict[int, str]:
    """Episodes whose arrays cannot be read whole (a checksum fails, a chunk is cut), with why: `data info`
    reads every array once, so it does not summarise a damaged file as if it were sound."""
    problems = {}
    with h5py.File(dataset.path / DATA_DIR / HDF5_FILE, "r") as file:
        for index in dataset.indices:
            try:
                for array in _arrays(file[f"episode_{index}"]):
                    array[()]
            except (KeyError, OSError) as err:
                problems[index] = str(err)
    return problems


def _arrays(group: h5py.Group) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []
    group.visititems(lambda _, item: found.append(item) if isinstance(item, h5py.Dataset) else None)
    return found


def _extras(dataset: Dataset) -> list[str]:
    with h5py.File(dataset.path / DATA_DIR / HDF5_FILE, "r") as file:
        if not len(file):
            return []
        return sorted(n for n in file["episode_0"]["infos"] if n != "label")


@dataclass
class VerifyReport:
    path: str
    episodes: int = 0
    sound: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_TRUNCATED = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")


def verify_dataset(path: str | Path) -> VerifyReport:
    """Checks every episode: readable (checksums), shapes, dtypes, action range, flags, monotone frames.

    A damaged episode is named and the others are still checked, so what is readable stays readable.
    """
    path = Path(path)
    report = VerifyReport(str(path))
    try:
        dataset = load_dataset(path)
    except ValueError as err:
        report.problems.append(str(err))
        return report
    try:
        file = h5py.File(path / DATA_DIR / HDF5_FILE, "r")
    except OSError as err:
        cut = _TRUNCATED.search(str(err))
        if cut:
            report.problems.append(
                f"{HDF5_FILE} is truncated ({int(cut.group(1)):,} of {int(cut.group(2)):,} bytes): it was "
                f"cut while being written or copied. `imitax data verify {path} --repair True` makes the "
                "episodes before the cut readable again (the original is kept as a .bak file)."
            )
        else:
            report.problems.append(f"{HDF5_FILE} cannot be opened: {err}")
        return report
    with file:
        names = sorted(file, key=lambda n: int(n.split("_")[-1]))
        report.episodes = len(names)
        for name in names:
            index = int(name.split("_")[-1])
            problems = _check_group(file[name], dataset.info)
            if problems:
                report.problems.extend(f"episode {index}: {p}" for p in problems)
            else:
                report.sound.append(index)
        expected = [f"episode_{i}" for i in range(len(names))]
        if names != expected:
            report.problems.append(f"episode numbers are not 0..{len(names) - 1}: {names}")
    steps = dataset.metadata.get("total_steps")
    if report.ok and steps is not None:
        actual = dataset.summary_arrays()["lengths"].sum()
        if actual != steps:
            report.problems.append(f"metadata says {steps} steps, the episodes hold {actual}")
    return report


def _check_group(group: h5py.Group, info: dict[str, Any]) -> list[str]:
    try:
        frames = group["observations"][()]
        actions = group["actions"][()]
        rewards = group["rewards"][()]
        terminations = group["terminations"][()]
        truncations = group["truncations"][()]
        labels = group["infos"]["label"][()]
        frame_numbers = group["infos"]["frame_number"][()] if "frame_number" in group["infos"] else None
    except (KeyError, OSError) as err:
        return [f"cannot be read ({err})"]
    steps = len(actions)
    problems = []
    shape = (steps + 1, *info["frame_shape"])
    if frames.shape != shape or frames.dtype != np.uint8:
        problems.append(f"observations are {frames.shape} {frames.dtype}, expected {shape} uint8")
    for name, values in (
        ("rewards", rewards),
        ("terminations", terminations),
        ("truncations", truncations),
        ("labels", labels),
    ):
        if len(values) != steps:
            problems.append(f"{name} has {len(values)} entries for {steps} actions")
    num_actions = len(info["action_ids"])
    for name, values in (("actions", actions), ("labels", labels)):
        if not np.issubdtype(values.dtype, np.integer):
            problems.append(f"{name} are {values.dtype}, not integers")
        elif steps and (values.min() < 0 or values.max() >= num_actions):
            problems.append(f"{name} outside 0..{num_actions - 1} (min {values.min()}, max {values.max()})")
    if not np.all(np.isfinite(rewards)):
        problems.append("rewards are not all finite")
    ends = terminations | truncations
    if ends[:-1].any():
        problems.append(f"the episode ends before its last step (at step {int(np.argmax(ends))})")
    if steps and not ends[-1] and not group.attrs.get("partial", False):
        problems.append("the last step is neither terminated nor truncated")
    if frame_numbers is not None and np.any(np.diff(frame_numbers) <= 0):
        problems.append(
            f"frame numbers are not increasing (at step {int(np.argmax(np.diff(frame_numbers) <= 0))})"
        )
    return problems


def repair_truncated(path: str | Path) -> Path:
    """Pads a truncated HDF5 file to its recorded size so its intact episodes can be read; the cut part
    reads as damaged (checksums fail). Keeps the original as main_data.hdf5.bak and returns its path."""
    data_file = Path(path) / DATA_DIR / HDF5_FILE
    try:
        h5py.File(data_file, "r").close()
        raise ValueError(f"{data_file} opens fine; there is nothing to repair.")
    except OSError as err:
        cut = _TRUNCATED.search(str(err))
        if not cut:
            raise ValueError(f"{data_file} is damaged in a way --repair cannot mend: {err}") from None
    backup = data_file.with_suffix(".hdf5.bak")
    shutil.copyfile(data_file, backup)
    with data_file.open("ab") as f:
        f.write(b"\0" * (int(cut.group(2)) - int(cut.group(1))))
    report = verify_dataset(path)
    metadata_file = Path(path) / DATA_DIR / METADATA_FILE
    metadata = json.loads(metadata_file.read_text())
    metadata["imitax"]["broken_episodes"] = sorted(set(range(report.episodes)) - set(report.sound))
    metadata_file.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return backup
