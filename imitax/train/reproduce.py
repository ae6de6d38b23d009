"""Rerunning a run from its record: `imitax reproduce RUN_DIR` trains the recorded config again into a
new directory. On the same machine kind (CPU) and code its metrics equal the original's bit for bit;
where the code or the packages differ from the record, it says which before it starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import tyro

from imitax.agents.algorithms import ALGORITHMS
from imitax.train import run_dir as rd
from imitax.train.loading import config_from_record
from imitax.train.runner import TrainResult, train


@dataclass(frozen=True)
class ReproduceArgs:
    """Train a run again, from its record, into a new directory."""

    run_dir: tyro.conf.Positional[str]
    """The run to reproduce."""
    out: str | None = None
    """Where the new run goes (default: RUN_DIR-reproduced)."""


def differences(record: dict) -> list[str]:
    """How this checkout and its packages differ from what made the run (empty: the same)."""
    notes = []
    then, now = record.get("git", {}), rd.git_state()
    if then.get("commit") != now.get("commit"):
        notes.append(f"code: the run was made at commit {then.get('commit')}, this is {now.get('commit')}")
    if then.get("dirty"):
        notes.append("code: the run was made with uncommitted changes, which are not recorded")
    versions = rd.package_versions()
    for name, version in record.get("versions", {}).items():
        if versions.get(name) != version:
            notes.append(f"{name}: the run used {version}, this machine has {versions.get(name)}")
    return notes


def reproduce(run_dir: str | Path, out: str | Path | None = None, quiet: bool = False) -> TrainResult:
    """Trains the config recorded in `run_dir` again into `out`.

    Raises:
      RunDirError: no run in `run_dir`, an algorithm imitax does not know, or `out` holds a run already.
    """
    run_dir = Path(run_dir)
    if not (run_dir / rd.CONFIG_FILE).exists():
        raise rd.RunDirError(f"{run_dir} is not a run directory ({rd.CONFIG_FILE} is missing).")
    record = rd.load_run_record(run_dir)
    algo = record.get("algo")
    if algo not in ALGORITHMS:
        raise rd.RunDirError(f"{run_dir} was made by {algo!r}, which imitax does not know.")
    target = Path(out) if out else run_dir.with_name(run_dir.resolve().name + "-reproduced")
    rd.check_new_run_dir(target)
    config = config_from_record(ALGORITHMS[algo].config, record["config"])
    for note in differences(record):
        print(f"note: {note}; the numbers may differ.")
    return train(dataclasses.replace(config, run_dir=str(target)), quiet=quiet)
