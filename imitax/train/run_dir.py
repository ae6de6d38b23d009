"""The run directory: what a run records (config.json, metrics.csv, eval.csv, TensorBoard events,
checkpoints), and the checks that keep a new run from overwriting an old one."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import fcntl
import importlib.metadata
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jax

from imitax.agents.objective import term_sources
from imitax.disk import reporting_full_disk
from imitax.train.checkpoints import Checkpointer

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
EVAL_FILE = "eval.csv"
LOCK_FILE = "lock"
"""Held (flock) by the one process writing a run directory, with its pid inside; gone when it ends."""
SEED_DIR = "seed{}"
CHECKPOINTS_DIR = "checkpoints"
RESUMABLE = {"total_steps", "run_dir", "wandb_project"}  # settings a resumed run may change
ADDED_SETTINGS = {
    "val_episodes": 0,
    "init_from": None,
    "bc_balance": False,
    "init_q_scale": 1.0,
    "learning_rate_end": None,
    "sticky_rounds": False,
    "final_eval_episodes": None,
    "round_epsilon": 0.0,
}
"""Settings added after runs were recorded, with the value that reproduces a run recorded before them."""
PACKAGES = (
    "imitax",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "chex",
    "envpool",
    "ale-py",
    "gymnasium",
    "numpy",
    "orbax-checkpoint",
    "minari",
)


class RunDirError(ValueError):
    """A run directory cannot be used as asked; the message says why and what to do."""


class RunInUseError(RunDirError):
    """Another process is writing the run directory; `holder` is its pid (as its lock file says)."""

    def __init__(self, message: str, holder: str):
        super().__init__(message)
        self.holder = holder


def _lock(path: Path) -> int:
    """Takes `path`'s lock (a file descriptor holding it) or raises RunInUseError naming its holder.

    The kernel drops a flock when its holder dies, so a lock left by a killed process is free to take; the
    file is unlinked on release, so the inode check makes sure the lock taken is the file still there."""
    lock = path / LOCK_FILE
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunInUseError(
                f"{path} is in use by process {holder} (it holds {lock}). Wait for it to end or stop it "
                f"(kill {holder}); only one process may write a run at a time.",
                holder,
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # released and unlinked by its holder meanwhile: take the new file


def _unlock(path: Path, fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path / LOCK_FILE)
    os.close(fd)


def _new_dirs(path: Path) -> list[Path]:
    """The directories `path` needs that do not exist yet, outermost first."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    return missing[::-1]


@contextlib.contextmanager
def holding(paths: Sequence[Path]) -> Iterator[None]:
    """Holds the run directories `paths` for one process: a second process asking for any of them is
    refused at once with the holder's pid. A run directory made here for a run that then fails before
    writing its record (bad input found late) is removed again, so a refused run leaves nothing behind."""
    made, held, failed = [], [], True
    try:
        for path in map(Path, paths):
            if path.exists() and not path.is_dir():
                raise RunDirError(f"--run-dir {path} is a file, not a directory. Choose another path.")
            made += [(p, p == path) for p in _new_dirs(path)]
            path.mkdir(parents=True, exist_ok=True)
            held.append((path, _lock(path)))
        yield
        failed = False
    finally:
        for path, fd in held[::-1]:
            _unlock(path, fd)
        for path, is_run in made[::-1] if failed else []:
            if is_run and not any(path.glob(CONFIG_FILE)) and not any(path.glob(f"*/{CONFIG_FILE}")):
                shutil.rmtree(path, ignore_errors=True)  # ours alone: it was locked until just now
            with contextlib.suppress(OSError):  # a parent made on the way: only if nothing else is in it
                path.rmdir()


def in_use_by(path: Path) -> str | None:
    """The pid holding `path`'s lock, if a live process holds it (None: nobody is writing the run)."""
    lock = Path(path) / LOCK_FILE
    if not lock.exists():
        return None
    try:
        fd = _lock(Path(path))
    except RunInUseError as err:
        return err.holder
    except OSError:
        return None
    _unlock(Path(path), fd)
    return None


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """The commit of the imitax checkout that runs, and whether it had uncommitted changes."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def run_record(algo: str, config: Any, env_settings: dict, eval_env_settings: dict) -> dict[str, Any]:
    """Everything needed to know what a run was and to run it again."""
    terms = term_sources([*config.online_loss.names, *config.offline_loss.names])
    return {
        "algo": algo,
        "config": _jsonable(dataclasses.asdict(config)),
        **({"terms": terms} if terms else {}),
        "env": env_settings,
        "eval_env": eval_env_settings,
        "versions": package_versions(),
        "git": git_state(),
        "command": sys.argv,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "device": str(jax.devices()[0].device_kind),
        },
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def check_new_run_dir(path: Path) -> None:
    """Refuses a directory that already holds a run, so nothing of it is overwritten."""
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--run-dir {path} is a file, not a directory. Choose another path.")
    if (path / CONFIG_FILE).exists():
        raise RunDirError(
            f"{path} already holds a run. Continue it with --resume {path}, or choose another --run-dir."
        )
    if (path / "data" / "metadata.json").exists():
        raise RunDirError(f"{path} holds a demonstration dataset, not a run. Choose another --run-dir.")


def load_run_record(path: Path) -> dict[str, Any]:
    """The record of the run in `path`; a clear error naming the file when there is none or it is damaged."""
    config_file = Path(path) / CONFIG_FILE
    if not config_file.exists():
        raise RunDirError(f"{path}: there is no run there ({CONFIG_FILE} is missing).")
    damaged = (
        "the run's record is damaged. Restore it from a copy, or train the run again in a new directory."
    )
    try:
        record = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunDirError(f"{config_file} is not valid JSON ({err}): {damaged}") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict) or "algo" not in record:
        raise RunDirError(
            f"{config_file} lacks 'algo' or 'config', which every run's record holds: {damaged}"
        )
    return record


def config_differences(saved: dict[str, Any], new: dict[str, Any], allowed: set[str]) -> list[str]:
    """Settings that differ between a saved run and a new request, other than the allowed ones."""
    new = _jsonable(new)
    return [
        f"{name}: run has {saved.get(name)!r}, asked for {new.get(name)!r}"
        for name in sorted(set(saved) | set(new))
        if name not in allowed and saved.get(name) != new.get(name)
    ]


def with_added_settings(saved: dict[str, Any], names: Any) -> dict[str, Any]:
    """A recorded config with `ADDED_SETTINGS` (those among `names`) filled in where it predates them."""
    return {**{k: v for k, v in ADDED_SETTINGS.items() if k in names}, **saved}


def setting_differences(saved: dict[str, Any], algo: str, config: dict[str, Any]) -> list[str]:
    """What a request (an algorithm and its settings) changes of the run recorded as `saved`, beyond the
    settings a resume may change; a line each."""
    recorded = with_added_settings(saved["config"], config)  # a run from before a setting existed
    diffs = config_differences(recorded, config, RESUMABLE)
    if saved.get("algo") != algo:
        diffs.insert(0, f"algo: run has {saved.get('algo')!r}, asked for {algo!r}")
    return diffs


def holds_run(path: Path) -> bool:
    """Whether `path` holds a run (its record)."""
    return (Path(path) / CONFIG_FILE).is_file()


def check_same_run(path: Path, saved: dict, new: dict, algo: str) -> None:
    """Refuses to resume the run recorded as `saved` with a request (`new`) whose settings differ."""
    diffs = setting_differences(saved, algo, new["config"])
    if diffs:
        raise RunDirError(
            f"--resume {path}: that run was made with other settings:\n  "
            + "\n  ".join(diffs)
            + "\nResume with the run's own settings (omit these flags), or start a new --run-dir."
        )


def resumed_record(old: dict[str, Any], new: dict[str, Any], step: int | None) -> dict[str, Any]:
    """A resumed run's record: the original, with the settings a resume may change (--total-steps...) as
    they are now, and the resume itself noted (from which step, when, by which command, with which code)."""
    config = {**old["config"], **{k: new["config"][k] for k in RESUMABLE if k in new["config"]}}
    resume = {"step": step or 0, **{k: new[k] for k in ("created", "command", "git", "versions") if k in new}}
    return {**old, "config": config, "resumes": [*old.get("resumes", []), resume]}


def resume_point(paths: list[Path]) -> tuple[int | None, dict[Path, list[int]], list[str]]:
    """The step a run resumes from (the newest checkpoint intact in each of its seeds' directories; None:
    no checkpoint yet), the damaged newer checkpoints of each directory, and a line naming each.

    Raises:
      RunDirError: checkpoints, but none intact; or seeds whose newest intact checkpoints differ.
    """
    steps, damaged, notes = set(), {}, []
    for path in paths:
        checkpointer = Checkpointer(path / CHECKPOINTS_DIR, create=False)
        step, lines = checkpointer.newest_intact()
        notes += [f"{path}: {line}; passed over." for line in lines]
        damaged[path] = [s for s in checkpointer.all_steps() if step is None or s > step]
        if step is None and lines:
            raise RunDirError(
                f"{path}: no intact checkpoint to resume from ({'; '.join(lines)}). Restore the checkpoints "
                f"from a copy, or move {path / CHECKPOINTS_DIR} away and resume to train the run again from "
                "its start."
            )
        steps.add(step)
    if len(steps) > 1:
        raise RunDirError(
            f"{paths[0].parent}: its seeds' newest intact checkpoints differ ({sorted(steps, key=str)}); "
            "resume each seed's directory on its own."
        )
    step = steps.pop()
    if damaged and step is not None and any(damaged.values()):
        notes.append(f"Resuming from the newest intact checkpoint, at step {step:,}.")
    return step, damaged, notes


@dataclasses.dataclass
class Resume:
    """Where a run picks up: the records of its seeds' directories (None each for a new run), the step of
    its newest intact checkpoint (None: it stopped before the first), the damaged checkpoints after it,
    and lines to show."""

    saved: list[dict[str, Any] | None]
    step: int | None = 0
    damaged: dict[Path, list[int]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def find(cls, paths: list[Path], resume: bool) -> Resume:
        """A new run's (its directories checked to hold no run), or a resumed run's point."""
        if not resume:
            for path in paths:
                check_new_run_dir(path)
            return cls([None] * len(paths))
        return cls([load_run_record(path) for path in paths], *resume_point(paths))


_INTACT = "What was written before it is intact."


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Writes (or rewrites) a run's record whole: a reader sees the old file or the new one."""
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / (CONFIG_FILE + ".tmp")
    try:
        with reporting_full_disk(tmp, f"{path / CONFIG_FILE}", None, _INTACT):
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path / CONFIG_FILE)


class CsvLog:
    """An append-only CSV file of rows keyed by their first column (the run's `step`); a resumed run first
    drops the rows that came after its checkpoint, so none is duplicated. A row is written whole or not
    at all: a full disk cuts no row in half."""

    def __init__(self, path: Path, columns: list[str]):
        self.path = path
        self.columns = columns
        if not path.exists():
            self._write("w", columns)

    def truncate_after(self, step: int) -> None:
        key = self.columns[0]
        with self.path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(float(r[key])) <= step]
        tmp = self.path.with_suffix(".tmp")
        try:
            with (
                reporting_full_disk(tmp, str(self.path), None, _INTACT),
                tmp.open("w", newline="") as f,
            ):
                writer = csv.DictWriter(f, self.columns)
                writer.writeheader()
                writer.writerows(rows)
        except Exception:
            tmp.unlink(missing_ok=True)
            raise
        tmp.replace(self.path)

    def append(self, row: dict[str, Any]) -> None:
        self._write("a", [_cell(row.get(k)) for k in self.columns])

    def _write(self, mode: str, cells: list[Any]) -> None:
        text = io.StringIO()
        csv.writer(text).writerow(cells)
        data = text.getvalue().encode()
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
        fd = os.open(self.path, flags, 0o644)
        size = os.fstat(fd).st_size
        try:
            with reporting_full_disk(self.path, f"a row of {self.path}", len(data), _INTACT):
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
        except Exception:
            os.ftruncate(fd, size)  # the rows before stay whole
            raise
        finally:
            os.close(fd)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a run's CSV log (`METRICS_FILE`, `EVAL_FILE`); none when the run has not written it."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def seed_dirs(path: Path) -> list[Path]:
    """The seeds' directories of a run of several seeds (`path`/seed0, ...); empty when `path` holds one
    run itself."""
    if (path / CONFIG_FILE).exists():
        return []
    return sorted(p.parent for p in path.glob(f"{SEED_DIR.format('*')}/{CONFIG_FILE}"))


def seed_configs(config: Any) -> list[Any]:
    """One config per seed of a run: the run itself, or with `num_seeds` K > 1 the K separate runs it
    trains together (seed s in RUN_DIR/seed<s>), each what `imitax train` would run alone."""
    if config.num_seeds == 1:
        return [config]
    root = Path(config.resolved_run_dir)
    return [
        dataclasses.replace(config, seed=seed, num_seeds=1, run_dir=str(root / SEED_DIR.format(seed)))
        for seed in range(config.seed, config.seed + config.num_seeds)
    ]


def run_paths(config: Any) -> list[Path]:
    """The directories a run writes: its own, and each seed's when it trains several."""
    paths = [Path(config.resolved_run_dir)]
    return paths + [Path(c.resolved_run_dir) for c in seed_configs(config) if config.num_seeds > 1]


def is_finished(run_dir: str | Path, last_step: int) -> bool:
    """Whether a run's final evaluation, at `last_step` (`final_step` of its config), is written."""
    rows = read_rows(Path(run_dir) / EVAL_FILE)
    return bool(rows) and int(rows[-1]["step"]) >= last_step


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
