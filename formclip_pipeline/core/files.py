"""Atomic file writes: a reader never sees half a file, a killed writer leaves the old one; and the
lock that lets processes take turns at a shared file."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable


@lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path, directory: bool = False) -> int:
    """The mode a file written in place would get: the old file's, or the user's umask applied
    (temporary files are created private, 0600 or 0700, which is not what people expect of a report)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return (0o777 if directory else 0o666) & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, obj, indent: int | None = 2) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, default=str))


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextmanager
def atomic_dir(path: str | os.PathLike):
    """Build a directory under a temporary name, then swap it in whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path, directory=True))
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def exclusive_lock(path: str | os.PathLike, on_wait: Callable[[], None] | None = None):
    """Hold an exclusive lock on the file `path` (made if missing) for the block, waiting while another
    process holds it; `on_wait` is called once if it has to wait. The lock goes with the process, so
    a killed holder never leaves it taken."""
    import fcntl

    with open(path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


MAX_IMAGE_BYTES = 50 * 1024 * 1024  # a labelled frame is a JPEG of tens of kilobytes


def read_small_file(path: str | os.PathLike, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of a regular file no larger than `max_bytes`, or OSError saying why not: a FIFO
    would block the read forever, and a huge (or sparse) file would fill memory."""
    import stat

    path = Path(path)
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{path.name} is not a regular file")
    if st.st_size > max_bytes:
        raise OSError(f"{path.name} is {st.st_size / 2**20:,.0f} MB, more than the {max_bytes / 2**20:.0f} MB "
                      f"an image may be")
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"{path.name} grew past {max_bytes / 2**20:.0f} MB while being read")
    return data
