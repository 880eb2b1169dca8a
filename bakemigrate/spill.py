"""Rows met while reading a document, kept in a temporary SQLite file instead of Python sets.

A check that must compare every run of a document with a database (the same uuids, the same
statuses) writes the document's side here in batches as the runs pass, then compares inside SQLite
with the file attached to the database's connection (`SpilledRows.attached`). Memory stays flat at
any size: SQLite keeps a bounded cache and sorts on disk.

Each file has a lock file beside it, held while its process lives: a process killed before it
could remove its file (`kill -9`) leaves both, and the next one made removes them, since nobody
holds their lock any more.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .lock import try_lock

BATCH_ROWS = 2_000
"""Rows written together (one ``executemany``)."""
PREFIX = "bakemigrate-spill-"
"""How the temporary files' names begin (``bakemigrate-spill-x1y2z3.sqlite`` and its ``.lock``)."""


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # gone already, or (Windows) still open elsewhere
        path.unlink()


def _release(fd: int, *paths: Path) -> None:
    """Remove ``paths``, then close the lock file ``fd``."""
    for path in paths:
        _remove(path)
    os.close(fd)


def remove_abandoned(folder: Path) -> list[Path]:
    """Remove the spill files in ``folder`` whose process ended without removing them; returns them."""
    removed = []
    for lock_path in sorted(folder.glob(f"{PREFIX}*.lock")):
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except OSError:
            continue
        try:
            if try_lock(fd):  # its owner holds it while it lives
                data = lock_path.with_suffix(".sqlite")
                _remove(data)
                _remove(lock_path)
                removed += [data, lock_path]
        finally:
            os.close(fd)
    return removed


class SpilledRows:
    """A table ``rows`` with ``columns``, filled by `add` in batches, in a temporary file removed by `close`."""

    def __init__(self, *columns: str) -> None:
        folder = Path(tempfile.gettempdir())
        remove_abandoned(folder)
        fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=".lock", dir=folder)
        lock_path = Path(name)
        self.path = lock_path.with_suffix(".sqlite")
        self._removal = weakref.finalize(self, _release, fd, self.path, lock_path)
        try_lock(fd)  # a new file: nobody else can hold it yet
        self._conn: sqlite3.Connection | None = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=OFF")  # the file is thrown away on any failure
        self._conn.execute("PRAGMA synchronous=OFF")
        names = ", ".join(columns)
        self._conn.execute(f"CREATE TABLE rows ({names})")
        self._insert = f"INSERT INTO rows VALUES ({', '.join('?' * len(columns))})"
        self._pending: list[tuple[Any, ...]] = []

    def add(self, *row: Any) -> None:
        """Keep ``row`` (written with the next batch)."""
        self._pending.append(row)
        if len(self._pending) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending and self._conn is not None:
            self._conn.executemany(self._insert, self._pending)
        self._pending = []

    @contextlib.contextmanager
    def attached(self, conn: sqlite3.Connection, name: str) -> Iterator[str]:
        """Every row written, attached to ``conn`` as the schema ``name``: yields the table's name, ``name.rows``."""
        self._flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        conn.execute("ATTACH DATABASE ? AS " + name, (str(self.path),))
        try:
            yield f"{name}.rows"
        finally:
            conn.execute("DETACH DATABASE " + name)

    def close(self) -> None:
        """Remove the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._removal()
