"""Step 7, switch: put the verified v0.7 database in place of the original, in one atomic rename.

The last check ("the original is still the file that was backed up") and the rename are one decision:
both happen while an exclusive SQLite lock is held on the original, so no program connected to it can
commit in between. A work folder on another file system is first copied beside the database (the
rename never crosses file systems), so the lock is held only for the check and the rename.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .db import APP_OPEN, ensure_not_in_use, refusal, sha256_file
from .errors import DatabaseRefused, MigrationError
from .files import fsync_file, remove_sidecar_files, rename_over, sidecar_paths, temporary_beside
from .paths import keep_mode_and_owner

LOCK_WAIT = 5.0
"""Seconds the switch waits for a program that is writing to the database to finish its transaction."""


@dataclass
class SwitchResult:
    """What the switch did."""

    db: Path
    switched: bool
    sha256: str | None = None
    reason: str = ""

    def summary_line(self) -> str:
        """One line for the terminal."""
        if self.switched:
            return f"switched: {self.db} is now the migrated v0.7 database (sha256 {self.sha256[:16]}…)"
        return f"not switched: {self.reason}"


def changed_since_backup(db: Path) -> DatabaseRefused:
    """The refusal for a database that is no longer the file that was backed up."""
    return DatabaseRefused(
        f"{db}: changed since the backup (was bake-tracker used?); "
        "nothing was switched, run the migration again with a new work folder"
    )


def switch_copy_path(db: Path) -> Path:
    """The hidden copy of the migrated database made beside ``db`` when the work folder is on another disk."""
    return db.with_name(f".{db.name}.switch")


@contextlib.contextmanager
def _beside(db: Path, new_file: Path) -> Iterator[Path]:
    """``new_file`` itself when it is on ``db``'s file system, else a checked, durable copy of it beside
    ``db``, removed when the block ends unless it was renamed.

    A rename cannot cross file systems (a work folder on another disk), so the copy is what is renamed.
    A copy that cannot be finished (a full disk) is removed: nothing is left beside the database.

    Raises:
        MigrationError: the copy cannot be written, naming the database's folder and how much room it needs.
    """
    if new_file.parent.resolve().stat().st_dev == db.parent.resolve().stat().st_dev:
        yield new_file
        return
    with temporary_beside(db, name=switch_copy_path(db)) as copy:
        try:
            shutil.copyfile(new_file, copy)
            fsync_file(copy)
            equal = sha256_file(copy) == sha256_file(new_file)
        except OSError as exc:
            with contextlib.suppress(OSError):
                copy.unlink()  # before the free space is measured for the message
            need = new_file.stat().st_size
            why = "not enough free disk" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror or str(exc)
            raise MigrationError(
                f"{db.parent}: cannot put the migrated database beside {db.name} ({why}; it needs "
                f"{need:,} bytes free there, {shutil.disk_usage(db.parent).free:,} are); nothing was switched"
            ) from None
        if not equal:
            raise MigrationError(
                f"{copy}: the copy beside the database is not equal to {new_file}; nothing was switched"
            )
        yield copy


def _digest(fh: BinaryIO) -> str:
    """The SHA-256 of an open file from its first byte (read through ``fh``: closing another
    descriptor of a locked database would drop this process's SQLite locks on it)."""
    fh.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def exclusive_lock(db: Path) -> Iterator[BinaryIO]:
    """Hold SQLite's exclusive lock on ``db`` (no connected program can commit) and yield the file, open.

    The file is opened before the lock is taken and closed after it is released, so reading it
    under the lock does not release the lock.

    Raises:
        DatabaseRefused: another program holds the database longer than `LOCK_WAIT` seconds.
    """
    with open(db, "rb") as fh:
        conn = sqlite3.connect(db, timeout=LOCK_WAIT, isolation_level=None)
        try:
            try:
                conn.execute("PRAGMA locking_mode=EXCLUSIVE")
                conn.execute("BEGIN EXCLUSIVE")
            except sqlite3.DatabaseError as exc:
                raise refusal(exc, db) from None
            yield fh
        finally:
            conn.close()


def _unchanged(db: Path, fh: BinaryIO, accepted: tuple[str, ...], wal_sha256: str | None = None) -> bool:
    """True when ``db`` (open as ``fh``, locked) is one of the ``accepted`` files and holds no unsaved
    changes, other than the ``-wal`` a stopped app left at the backup (``wal_sha256``: in the backup)."""
    wal = Path(f"{db}-wal")
    if wal.exists() and wal.stat().st_size > 0 and (wal_sha256 is None or sha256_file(wal) != wal_sha256):
        return False
    return _digest(fh) in accepted


def _put_back(db: Path, old: BinaryIO) -> None:
    """Write the bytes of the replaced file ``old`` back at ``db`` (a write slipped in: undo the switch)."""
    with temporary_beside(db, name=db.with_name(f".{db.name}.restore")) as back:
        old.seek(0)
        with open(back, "wb") as out:
            shutil.copyfileobj(old, out)
        rename_over(back, db)


def replace_database(
    db: Path, new_file: Path, *, accepted: tuple[str, ...] | None = None, new_sha256: str | None = None,
    wal_sha256: str | None = None,
) -> str:
    """Atomically rename ``new_file`` over ``db`` (made durable first); return the new SHA-256.

    With ``accepted``, ``db`` must be one of those files (by SHA-256) at the moment of the rename:
    the check and the rename happen under one exclusive SQLite lock on ``db``, and the replaced file
    is checked again after the rename (a change found then puts it back and refuses).

    Raises:
        DatabaseRefused: the app holds the database, or it is not one of the ``accepted`` files.
        MigrationError: the migrated file cannot be put beside the database.
    """
    fsync_file(new_file)  # now, so that the rename under the lock has nothing left to write
    ensure_not_in_use(db)
    with _beside(db, new_file) as source:
        keep_mode_and_owner(db, source)  # the migrated file is as private as the original, and the baker's
        inode = source.stat().st_ino
        with exclusive_lock(db) as old:
            if accepted is not None and not _unchanged(db, old, accepted, wal_sha256):
                raise changed_since_backup(db)
            remove_sidecar_files(db, ("-wal", "-shm"))  # idle: an empty -wal, its -shm; they must not pair
            rename_over(source, db)
            if accepted is not None and _digest(old) not in accepted:  # cannot happen under the lock; never lose it
                _put_back(db, old)
                raise changed_since_backup(db)
            if os.stat(db).st_ino != inode:
                raise DatabaseRefused(f"{db}: replaced by another program during the switch; {APP_OPEN}")
    return new_sha256 or sha256_file(db)


def switch(
    db: str | os.PathLike[str],
    staging: str | os.PathLike[str],
    *,
    original_sha256: str | tuple[str, ...],
    staging_sha256: str,
    original_wal_sha256: str | None = None,
) -> SwitchResult:
    """Replace ``db`` with ``staging`` once both are proven to be what was backed up and verified.

    ``original_sha256`` is the checksum (or the checksums) the database may have: the one it had at
    the backup, or the backup's own after a rollback. It is checked under an exclusive lock at the
    very moment of the rename (see `replace_database`). ``original_wal_sha256`` is the `-wal` a stopped
    app left beside it at the backup (its changes are in the backup): that one `-wal` may stay until the
    rename, which replaces it with the file.

    Raises:
        DatabaseRefused: the app is open, or the database changed since the backup.
        MigrationError: the staging database is missing or changed since it was verified.
    """
    target, source = Path(db), Path(staging)
    if not source.exists():
        raise MigrationError(f"{source}: the verified staging database is missing; run the migration again")
    for leftover in sidecar_paths(source, ("-wal", "-journal")):
        if leftover.exists():
            raise MigrationError(f"{source}: is still being written ({leftover.name} exists)")
    accepted = (original_sha256,) if isinstance(original_sha256, str) else original_sha256
    # Both files are hashed side by side (hashlib reads without the GIL), looked at in this order.
    with ThreadPoolExecutor(max_workers=1) as pool:
        target_sha256 = pool.submit(sha256_file, target)
        if sha256_file(source) != staging_sha256:
            raise MigrationError(f"{source}: changed after it was verified; run the migration again")
        ensure_not_in_use(target)
        if target_sha256.result() not in accepted:  # a first, early look; the decisive one is under the lock
            raise changed_since_backup(target)
    digest = replace_database(target, source, accepted=accepted, new_sha256=staging_sha256,
                              wal_sha256=original_wal_sha256)
    return SwitchResult(db=target, switched=True, sha256=digest)
