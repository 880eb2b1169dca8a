"""One bakemigrate at a time per work folder and per database: OS-level locks held for a whole run.

The work folder's lock is the file ``.lock`` in it; the database's is a file in the system's
temporary folder named after the database file's identity (device and inode, so two spellings
or links of one file share it). Both are `flock` locks (a region lock on Windows): the system
drops them when the process ends, however it ends, so a killed run never leaves a stale lock.
The holder writes its process id (and, for a database, its work folder) in the file, for the
message the second run prints. The locks are re-entrant within one process, and a process may lend
the locks it holds to a child it starts (the headless notebook's kernel, see `lend_to_children`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import MigrationError
from .paths import make_private_folder

LOCK_NAME = ".lock"
LENT_BY = "BAKEMIGRATE_LOCKS_LENT_BY"
"""The environment variable naming the process (pid) whose locks its children may use as their own."""

_guard = threading.Lock()
_held: dict[str, list[int]] = {}  # lock file -> [descriptor, depth], in this process
_borrowed: set[str] = set()  # lock files of `_held` that the parent process holds for this one


def lend_to_children(env: dict[str, str]) -> dict[str, str]:
    """`env` for a child process that may use the locks this process holds as its own.

    The child runs the steps while this process holds the work folder and the database for the
    whole run; any other process is still refused, as is a grandchild.
    """
    return {**env, LENT_BY: str(os.getpid())}


def _lent_to_this_process(holder: list[str]) -> bool:
    """True when the lock's holder is this process's parent, which lent its locks to its children."""
    lender = os.environ.get(LENT_BY, "")
    return lender.isdigit() and holder[0].strip() == lender and int(lender) == os.getppid()


def try_lock(fd: int, *, shared: bool = False) -> bool:
    """Take the lock on ``fd`` without waiting; False when another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: lock one byte far beyond the holder's text
        import msvcrt

        os.lseek(fd, 1 << 20, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _retry(fd: int) -> bool:
    """`try_lock` for a moment (a dry run's look at the lock holds it for an instant)."""
    for _ in range(10):
        if try_lock(fd):
            return True
        time.sleep(0.02)
    return False


def _holder(fd: int) -> list[str]:
    """The lines the holder wrote in its lock file (its pid first), or ``["?"]``."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except (OSError, AttributeError):
        text = ""
    return text.split("\n")[:2] if text.strip() else ["?"]


def database_lock_path(db: Path) -> Path:
    """The lock file of the database ``db`` (in the system's temporary folder)."""
    try:
        st = db.stat()
        identity = f"{st.st_dev}-{st.st_ino}"
    except OSError:
        identity = hashlib.sha256(str(db.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"bakemigrate-{identity}.lock"


def _in_use(what: str, holder: list[str], folder: Path | None = None) -> MigrationError:
    pid = holder[0].strip() or "?"
    if folder is not None and len(holder) > 1 and holder[1] == str(folder):
        what, holder = f"work folder {folder}", holder[:1]  # the same run's database and work folder
    where = f", work folder {holder[1]}" if len(holder) > 1 and holder[1].strip() else ""
    return MigrationError(f"{what} is in use by another bakemigrate (pid {pid}{where}); "
                          "wait until it ends, or stop it, then run again")


def _acquire(path: Path, what: str, note: str = "") -> bool:
    """Take the lock ``path`` for this process (once; nested holds only count); True when newly taken."""
    key = str(path)
    with _guard:
        if key in _held:
            _held[key][1] += 1
            return False
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                try:  # another user's lock file can still be locked, read-only
                    fd = os.open(path, os.O_RDONLY)
                except OSError:
                    raise MigrationError(f"{path.parent}: cannot write in the folder ({exc.strerror})") from None
            locked = try_lock(fd)
            if not locked and _lent_to_this_process(_holder(fd)):
                _held[key] = [fd, 1]  # the parent holds it for this run: used as it is, never rewritten
                _borrowed.add(key)
                return True
            if not locked and not _retry(fd):
                holder = _holder(fd)
                os.close(fd)
                raise _in_use(what, holder, Path(note) if note else None)
            try:  # the last holder removes the file as it ends: lock the file that is there now
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(fd)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n{note}\n".encode("utf-8", "surrogateescape"), 0)
        _held[key] = [fd, 1]
    return True


def _release(path: Path) -> None:
    key = str(path)
    with _guard:
        entry = _held[key]
        entry[1] -= 1
        if entry[1]:
            return
        del _held[key]
        if key in _borrowed:  # the parent's lock file: it stays, the parent removes it
            _borrowed.discard(key)
        else:
            with contextlib.suppress(OSError):
                path.unlink()  # still locked: a run waiting on the old file sees it gone and starts over
        os.close(entry[0])


def holds(workdir: Path) -> bool:
    """True when this process holds the lock of ``workdir``."""
    with _guard:
        return str(Path(workdir) / LOCK_NAME) in _held


@contextlib.contextmanager
def hold_database(db: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of the database ``db`` for a run in ``workdir`` (nothing is written beside
    either: the lock file is in the system's temporary folder).

    Raises:
        MigrationError: another bakemigrate holds the work folder or the database (naming its pid).
    """
    folder, database = Path(workdir), Path(db)
    _check_free(folder / LOCK_NAME, f"work folder {folder}")  # the same work folder: said as such
    db_lock = database_lock_path(database)
    _acquire(db_lock, str(database), str(folder))
    try:
        yield
    finally:
        _release(db_lock)


@contextlib.contextmanager
def hold(workdir: str | os.PathLike[str], db: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the locks of the database ``db`` and of the work folder ``workdir`` (created if needed).

    Raises:
        MigrationError: another bakemigrate holds either (naming its pid), or the folder cannot be written.
    """
    folder = Path(workdir)
    with hold_database(db, folder):
        try:
            make_private_folder(folder, db)
        except OSError as exc:
            raise MigrationError(f"{folder}: cannot create the work folder ({exc.strerror})") from None
        first = _acquire(folder / LOCK_NAME, f"work folder {folder}")
        try:
            if first:  # both locks just taken: what is there now is no running step's
                from .leftovers import remove_leftovers

                remove_leftovers(folder, Path(db))
            yield
        finally:
            _release(folder / LOCK_NAME)


def _check_free(path: Path, what: str) -> None:
    """Refuse when another process holds the lock ``path``, writing nothing."""
    with _guard:
        if str(path) in _held:
            return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no lock file: nobody holds it
    try:
        if not try_lock(fd, shared=True) and not _lent_to_this_process(holder := _holder(fd)):
            raise _in_use(what, holder)
    finally:
        os.close(fd)

