"""A run's checkpoints: orbax checkpoints of a pytree keyed by the run's step, each with a manifest of its
files (sizes and CRC-32s) written once orbax has finished it, so that a damaged checkpoint (a file
deleted, truncated or overwritten) is found before it is read, named, and passed over for the newest
intact one. A full disk while saving is one message and leaves the earlier checkpoints as they were."""

from __future__ import annotations

import json
import logging
import shutil
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jax

from imitax.disk import check_room, reporting_full_disk

MANIFEST = "imitax_manifest.json"
"""In each step's directory: {relative path: [size, crc32]} of every file orbax wrote there."""
DAMAGED_DIR = "checkpoints-damaged"
"""Beside `checkpoints/`: where a resumed run moves the damaged checkpoints it passed over (kept, not
deleted, and out of the way of the checkpoint it will write at the same step)."""
_ROOM_MARGIN = 1.1  # orbax's metadata and the manifest beside the arrays


class CheckpointError(ValueError):
    """No checkpoint can be used as asked; the message names what is wrong and what to do."""


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _keys_to_data(tree: Any) -> Any:
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def tree_bytes(tree: Any) -> int:
    return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(_keys_to_data(tree)))


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            crc = zlib.crc32(block, crc)
    return crc


def _files(step_dir: Path) -> Iterator[Path]:
    return (p for p in sorted(step_dir.rglob("*")) if p.is_file() and p.name != MANIFEST)


def write_manifest(step_dir: Path) -> None:
    files = {str(p.relative_to(step_dir)): [p.stat().st_size, _crc32(p)] for p in _files(step_dir)}
    tmp = step_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(files, sort_keys=True))
    tmp.replace(step_dir / MANIFEST)


def check_manifest(step_dir: Path) -> str | None:
    """What is wrong with a checkpoint's files (None: they are as written). A checkpoint without a
    manifest (killed between orbax's commit and the manifest, or saved by an older imitax) passes."""
    manifest = step_dir / MANIFEST
    if not step_dir.is_dir():
        return "its directory is missing"
    if not manifest.exists():
        return None
    try:
        files = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return f"its {MANIFEST} is damaged"
    for name, (size, crc) in files.items():
        path = step_dir / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} is {path.stat().st_size:,} bytes, {size:,} when written (truncated or cut)"
        if _crc32(path) != crc:
            return f"{name} has changed since it was written (its checksum differs)"
    return None


@contextmanager
def _orbax_quiet() -> Iterator[None]:
    """Orbax logs every failed write as a page of tracebacks; the one message raised instead says it all."""
    loggers = [logging.getLogger(name) for name in ("absl", "orbax")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class Checkpointer:
    """Orbax checkpoints of a pytree, keyed by the run's step; the two newest are kept."""

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

    def all_steps(self) -> list[int]:
        return [] if self._manager is None else sorted(self._manager.all_steps())

    def problem(self, step: int) -> str | None:
        """What is wrong with the checkpoint at `step` (None: intact)."""
        return check_manifest(self.directory / str(step))

    def newest_intact(self) -> tuple[int | None, list[str]]:
        """The newest intact checkpoint's step (None: none is), and a line for each newer damaged one."""
        damaged = []
        for step in reversed(self.all_steps()):
            problem = self.problem(step)
            if problem is None:
                return step, damaged
            damaged.append(f"the checkpoint at step {step:,} is damaged: {problem}")
        return None, damaged

    def set_aside(self, steps: list[int]) -> Path:
        """Moves damaged checkpoints out of the way, into DAMAGED_DIR beside this one; returns it."""
        aside = self.directory.parent / DAMAGED_DIR
        aside.mkdir(exist_ok=True)
        for step in steps:
            target, n = aside / str(step), 1
            while target.exists():
                target, n = aside / f"{step}-{n}", n + 1
            shutil.move(str(self.directory / str(step)), target)
        if self._manager is not None:
            self._manager.reload()
        return aside

    def save(self, step: int, tree: Any) -> None:
        """Saves `tree` at `step`; a full disk is a `DiskFullError` and leaves no partial checkpoint."""
        assert self._manager is not None
        needed = int(tree_bytes(tree) * _ROOM_MARGIN)
        saved = self.all_steps()
        then = "The earlier checkpoints are intact." if saved else "No checkpoint had been saved before it."
        what = f"the checkpoint at step {step:,} to {self.directory}"
        check_room(self.directory, needed, what, then)
        existed = (self.directory / str(step)).exists()
        try:
            with reporting_full_disk(self.directory, what, needed, then), _orbax_quiet():
                self._manager.save(step, args=self._ocp.args.PyTreeSave(_keys_to_data(tree)), force=True)
                self._manager.wait_until_finished()
                write_manifest(self.directory / str(step))
        except Exception:
            self._remove_partial(step, existed)
            raise

    def _remove_partial(self, step: int, existed: bool) -> None:
        """Removes what a failed save left: orbax's temporary directory, and the step's own directory
        unless a checkpoint was there before."""
        for path in self.directory.iterdir():
            ours = path.name == str(step) and not existed
            if ours or path.name.startswith(f"{step}.orbax-checkpoint-tmp"):
                shutil.rmtree(path, ignore_errors=True)
        self._manager.reload()

    def restore(self, target: Any, step: int | None = None) -> Any:
        """Restores into the structure of `target` (PRNG keys included). Entries the checkpoint holds
        beyond `target` (the agent without the replay, say, or the counters of a phase this run does not
        have) are passed over; an entry of `target` the checkpoint lacks is a `CheckpointError`."""
        assert self._manager is not None
        step = self.latest_step() if step is None else step
        abstract = jax.tree.map(self._ocp.utils.to_shape_dtype_struct, _keys_to_data(target))
        restore_args = self._ocp.checkpoint_utils.construct_restore_args(abstract)
        args = self._ocp.args.PyTreeRestore(item=abstract, restore_args=restore_args, partial_restore=True)
        try:
            with _orbax_quiet():
                restored = self._manager.restore(step, args=args)
        except Exception as err:  # damage the manifest cannot see (an older checkpoint without one)
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise CheckpointError(
                f"the checkpoint at step {step:,} in {self.directory} cannot be read ({first}). Move it "
                f"out of {self.directory} to use the one before it."
            ) from None
        missing = [
            jax.tree_util.keystr(path)
            for path, leaf in jax.tree_util.tree_leaves_with_path(restored)
            if isinstance(leaf, jax.ShapeDtypeStruct)
        ]
        if missing:
            raise CheckpointError(
                f"the checkpoint at step {step:,} in {self.directory} lacks {', '.join(missing[:3])}: it was "
                "saved by another kind of run."
            )
        return jax.tree.map(
            lambda r, t: jax.random.wrap_key_data(r, impl=jax.random.key_impl(t)) if _is_key(t) else r,
            restored,
            target,
        )

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
