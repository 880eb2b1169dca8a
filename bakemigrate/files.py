"""Writing a file beside its target and renaming it over the target, and the files SQLite keeps beside one.

Every file bakemigrate makes (a document, the journal, the backup, the staging database, a kept copy, the
migrated database put beside the original) is written under a temporary name in the target's folder,
made durable, and renamed over the target in one step: a reader sees the old file or the complete new
one, never half of one. The temporary file is removed whatever happens, unless it was renamed.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import MigrationError

SIDECAR_SUFFIXES = ("-journal", "-wal", "-shm")
"""The files SQLite may keep beside a database: the rollback journal, the write-ahead log and its index."""

TEMPORARY_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp(-journal)?")
"""The name of a file made by `temporary_beside` (`.NAME.` + eight of `tempfile`'s letters + `.tmp`),
and of the `-journal` SQLite may put beside it."""


def sidecar_paths(path: str | os.PathLike[str], suffixes: tuple[str, ...] = SIDECAR_SUFFIXES) -> list[Path]:
    """The paths of the files SQLite may keep beside ``path`` (they may or may not exist)."""
    return [Path(f"{path}{suffix}") for suffix in suffixes]


def has_sidecar_files(path: str | os.PathLike[str], suffixes: tuple[str, ...] = SIDECAR_SUFFIXES) -> bool:
    """Whether any of the files SQLite keeps beside ``path`` (``suffixes`` of them) is there."""
    return any(sidecar.exists() for sidecar in sidecar_paths(path, suffixes))


def remove_sidecar_files(
    path: str | os.PathLike[str], suffixes: tuple[str, ...] = SIDECAR_SUFFIXES, *, with_file: bool = False
) -> None:
    """Delete the files SQLite keeps beside ``path`` (``suffixes`` of them), and ``path`` itself first
    ``with_file``, so that none of them can pair with a new file of that name. A missing one is no error."""
    for leftover in ([Path(path)] if with_file else []) + sidecar_paths(path, suffixes):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def partial_path(target: Path) -> Path:
    """The hidden file beside ``target`` that a backup or a staging database is built in before it is
    renamed to ``target`` (``.NAME.partial``: a run stopped before the rename leaves it)."""
    return target.with_name(f".{target.name}.partial")


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl+C (SIGINT) and SIGTERM back until the block ends; one that came meanwhile arrives then.

    Python runs signal handlers in the main thread only, whichever thread the system delivers the
    signal to, so the main thread's handlers are swapped for one that only takes note.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # no handler runs in this thread
        return
    pending: list[int] = []
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    before = {signum: handler for signum, handler in before.items() if handler is not None}
    for signum in before:
        signal.signal(signum, lambda got, frame: pending.append(got))
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        for signum in pending[:1]:
            handler = before[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


@contextlib.contextmanager
def temporary_beside(target: Path, *, name: Path | None = None) -> Iterator[Path]:
    """A temporary path in ``target``'s folder, to write and then `rename_over` ``target``; removed (with
    any SQLite ``-journal``) when the block ends, unless it was renamed.

    Without ``name``, a fresh empty file named by `TEMPORARY_NAME`, with the permissions of a normally
    created file. With ``name`` (a fixed hidden name beside ``target`` that the next run recognises, as
    `bakemigrate.leftovers` does), the path of a file not there yet: one an interrupted run left, and its
    ``-journal``, are removed first.

    Raises:
        MigrationError: the folder cannot be written.
    """
    tmp: Path | None = None
    try:
        if name is not None:
            tmp = name
            remove_sidecar_files(tmp, ("-journal",), with_file=True)
        else:
            folder = target.parent if str(target.parent) else Path(".")
            with _signals_held():  # a Ctrl+C or SIGTERM arrives once `tmp` is known, so it is removed
                try:
                    fd, made = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
                except OSError as exc:
                    raise MigrationError(f"{target}: cannot write in {folder} ({exc.strerror})") from None
                tmp = Path(made)
            os.close(fd)
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)  # not mkstemp's 0600
        yield tmp
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                remove_sidecar_files(tmp, ("-journal",), with_file=True)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Write what the system still holds of ``path``'s content to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename inside ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def rename_over(tmp: Path, target: Path) -> None:
    """Make ``tmp`` durable, rename it over ``target`` in one step, and make the rename durable.

    Raises:
        OSError: the file cannot be written to the disk or renamed (``target`` is then unchanged).
    """
    fsync_file(tmp)
    os.replace(tmp, target)
    fsync_dir(target.parent)
