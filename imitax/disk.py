"""A full disk as a message: what could not be written, where, and about how much room it needed.

Every writer of a run or a dataset (checkpoints, metrics rows, episodes) turns the operating system's
"no space left on device" into a `DiskFullError`, after undoing its partial write, so that what was
written before stays readable and the work continues once space is freed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

MB = 2**20


class DiskFullError(ValueError):
    """A write found no space left; the message names the file system, the need and what to do."""


def free_bytes(path: Path) -> int:
    """Bytes free on the file system holding `path` (or its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


def is_disk_full(err: BaseException) -> bool:
    """Whether an error (or one it was raised from) says the disk is full: ENOSPC from the operating system,
    or the same reported as text by a library that wraps it (TensorStore under orbax, HDF5 under h5py)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(err)
        if "No space left on device" in text or ("RESOURCE_EXHAUSTED" in text and "space" in text):
            return True
        err = err.__cause__ or err.__context__
    return False


def mount_point(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def disk_full_error(path: Path, what: str, needed: int | None, then: str) -> DiskFullError:
    need = f"needed about {max(needed, 1) / MB:,.1f} MB, " if needed else ""
    return DiskFullError(
        f"no space left on {mount_point(path)} while writing {what} ({need}{free_bytes(path) / MB:,.1f} MB "
        f"free). {then}"
    )


def check_room(path: Path, needed: int, what: str, then: str) -> None:
    """Refuses, before writing, a write of about `needed` bytes that the file system cannot hold."""
    if free_bytes(path) < needed:
        raise disk_full_error(path, what, needed, then)


@contextlib.contextmanager
def reporting_full_disk(path: Path, what: str, needed: int | None, then: str) -> Iterator[None]:
    """Turns a full disk inside the block into a `DiskFullError` naming `what` was being written."""
    try:
        yield
    except Exception as err:
        if is_disk_full(err):
            raise disk_full_error(path, what, needed, then) from None
        raise


@contextlib.contextmanager
def quiet_full_disk_in_threads() -> Iterator[None]:
    """A library's writer thread (TensorBoard's) that meets a full disk ends without a page of traceback:
    the main thread's next write meets the same disk and says so in one message."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or not is_disk_full(args.exc_value):
            previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous
