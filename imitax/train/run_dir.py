"""The run directory: what a run records (config.json, metrics.csv, eval.csv, TensorBoard events,
checkpoints), and the checks that keep a new run from overwriting an old one."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import importlib.metadata
import json
import math
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
EVAL_FILE = "eval.csv"
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
    return {
        "algo": algo,
        "config": _jsonable(dataclasses.asdict(config)),
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
    """The record of a run to resume; a clear error when there is no run or no checkpoint there."""
    config_file = path / CONFIG_FILE
    if not config_file.exists():
        raise RunDirError(f"--resume {path}: there is no run there ({CONFIG_FILE} is missing).")
    try:
        record = json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise RunDirError(f"--resume {path}: {CONFIG_FILE} is not valid JSON ({err}).") from None
    return record


def config_differences(saved: dict[str, Any], new: dict[str, Any], allowed: set[str]) -> list[str]:
    """Settings that differ between a saved run and a new request, other than the allowed ones."""
    new = _jsonable(new)
    return [
        f"{name}: run has {saved.get(name)!r}, asked for {new.get(name)!r}"
        for name in sorted(set(saved) | set(new))
        if name not in allowed and saved.get(name) != new.get(name)
    ]


def write_record(path: Path, record: dict[str, Any]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    tmp.replace(path / CONFIG_FILE)


class CsvLog:
    """An append-only CSV file of rows keyed by their first column (the run's `step`); a resumed run first
    drops the rows that came after its checkpoint, so none is duplicated."""

    def __init__(self, path: Path, columns: list[str]):
        self.path = path
        self.columns = columns
        if not path.exists():
            with path.open("w", newline="") as f:
                csv.writer(f).writerow(columns)

    def truncate_after(self, step: int) -> None:
        key = self.columns[0]
        with self.path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(float(r[key])) <= step]
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow({k: _cell(row.get(k)) for k in self.columns})


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a run's CSV log (`METRICS_FILE`, `EVAL_FILE`); none when the run has not written it."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


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


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _keys_to_data(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


class Checkpointer:
    """Orbax checkpoints of a pytree, keyed by environment steps; the two newest are kept."""

    def __init__(self, directory: Path, create: bool = True):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = directory.absolute()
        if not create and not self.directory.exists():
            self._manager = None
            return
        options = ocp.CheckpointManagerOptions(max_to_keep=2, create=create, enable_async_checkpointing=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return None if self._manager is None else self._manager.latest_step()

    def save(self, step: int, tree: Any) -> None:
        assert self._manager is not None
        self._manager.save(step, args=self._ocp.args.StandardSave(_keys_to_data(tree)), force=True)
        self._manager.wait_until_finished()

    def all_steps(self) -> list[int]:
        return [] if self._manager is None else list(self._manager.all_steps())

    def restore(self, target: Any, step: int | None = None) -> Any:
        """Restores into the structure of `target` (PRNG keys included)."""
        return self._restore(target, step, partial=False)

    def restore_part(self, target: Any, step: int | None = None) -> Any:
        """Restores only the top-level entries `target` names (the agent without the replay, say)."""
        return self._restore(target, step, partial=True)

    def _restore(self, target: Any, step: int | None, partial: bool) -> Any:
        assert self._manager is not None
        step = self.latest_step() if step is None else step
        abstract = jax.tree.map(self._ocp.utils.to_shape_dtype_struct, _keys_to_data(target))
        if partial:
            restore_args = self._ocp.checkpoint_utils.construct_restore_args(abstract)
            args = self._ocp.args.PyTreeRestore(
                item=abstract, restore_args=restore_args, partial_restore=True
            )
        else:
            args = self._ocp.args.StandardRestore(abstract)
        restored = self._manager.restore(step, args=args)
        return jax.tree.map(
            lambda r, t: jax.random.wrap_key_data(r, impl=jax.random.key_impl(t)) if _is_key(t) else r,
            restored,
            target,
        )

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
