"""Rerunning a run from its record: `imitax reproduce RUN_DIR` trains the recorded config again into a
new directory and compares the two. On the same machine kind (CPU) and code its metrics equal the
original's bit for bit; where the code or the packages differ from the record, it says which before it
starts, and where the rows differ, it says where they first do."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import tyro

from imitax.train import run_dir as rd
from imitax.train.loading import load_run_config
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


TIMING = frozenset({"steps_per_s", "updates_per_s"})
"""Columns that measure the machine, not the run: left out of the comparison."""


@dataclass
class Reproduction:
    result: TrainResult
    mismatch: str | None
    """Where the new run's rows first differ from the original's (None: every row equal)."""
    rows: int
    """Metrics rows and evaluations compared."""

    @property
    def reproduced(self) -> bool:
        return self.mismatch is None


def first_difference(original: Path, new: Path) -> tuple[str | None, int]:
    """Where the rows of two runs first differ, timing columns aside, and how many rows were compared."""
    compared = 0
    for name in (rd.METRICS_FILE, rd.EVAL_FILE):
        ours, theirs = rd.read_rows(original / name), rd.read_rows(new / name)
        for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
            for column in a.keys() - TIMING:
                if a[column] != b.get(column):
                    return (
                        f"{name}, row {i + 1} (step {a.get('step')}): {column} is {a[column]!r} in the "
                        f"original and {b.get(column)!r} here"
                    ), compared
            compared += 1
        if len(ours) != len(theirs):
            return f"{name}: the original has {len(ours)} rows, this run {len(theirs)}", compared
    return None, compared


def reproduce(run_dir: str | Path, out: str | Path | None = None, quiet: bool = False) -> Reproduction:
    """Trains the config recorded in `run_dir` again into `out` and compares the two runs' rows.

    Raises:
      RunDirError: no run in `run_dir` (or one still being written), a damaged record, an algorithm imitax
        does not know, or `out` holds a run already.
    """
    run_dir = Path(run_dir)
    holder = rd.in_use_by(run_dir)
    if holder:
        raise rd.RunInUseError(
            f"{run_dir} is still being written by process {holder}: reproduce it once that run has ended.",
            holder,
        )
    record = rd.load_run_record(run_dir)
    _, config = load_run_config(run_dir)
    target = Path(out) if out else run_dir.with_name(run_dir.resolve().name + "-reproduced")
    rd.check_new_run_dir(target)
    for note in differences(record):
        print(f"note: {note}; the numbers may differ.")
    result = train(dataclasses.replace(config, run_dir=str(target)), quiet=quiet)
    mismatch, rows = first_difference(run_dir, target) if not result.interrupted else (None, 0)
    resumes = [r.get("step", 0) for r in record.get("resumes", [])]
    if mismatch and resumes:  # its environments restarted with new games there: a straight run differs
        mismatch += f" (the original was resumed at step {', '.join(f'{s:,}' for s in resumes)})"
    return Reproduction(result, mismatch, rows)
