"""Opening bake-tracker databases safely: checks that refuse a wrong, broken or busy file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DatabaseRefused
from .tables import SchemaVersion, detect_schema_version, user_tables

SQLITE_HEADER = b"SQLite format 3\x00"
APP_OPEN = "close bake-tracker first"


@dataclass
class DatabaseInfo:
    """What a first look at a database found."""

    path: Path
    schema_version: SchemaVersion
    size_bytes: int
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def opened_by_v07(self) -> bool:
        """True for a v0.6 file bake-tracker 0.7 has opened once: it added an empty ``production_losses``."""
        return self.schema_version == "0.6" and "production_losses" in self.row_counts

    @property
    def runs(self) -> int:
        """Number of production runs."""
        return self.row_counts.get("production_runs", 0)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_file(path: Path, label: str) -> None:
    if not path.exists():
        raise DatabaseRefused(f"{label}: file not found")
    if path.is_dir():
        raise DatabaseRefused(f"{label}: is a folder, not a database file")
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        raise DatabaseRefused(f"{label}: cannot read ({exc.strerror})") from None
    if not header:
        raise DatabaseRefused(f"{label}: the file is empty")
    if not header.startswith(SQLITE_HEADER):
        raise DatabaseRefused(f"{label}: not a SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if page_size and pages and path.stat().st_size < page_size * pages:
        raise DatabaseRefused(f"{label}: the file is truncated (corrupt database)")


def refusal(exc: sqlite3.DatabaseError, label: object) -> DatabaseRefused:
    """The one-line refusal for a SQLite error met while opening or reading ``label``."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DatabaseRefused(f"{label}: {APP_OPEN} (the database is in use)")
    return DatabaseRefused(f"{label}: not a usable SQLite database ({text})")


def ensure_not_in_use(path: str | os.PathLike[str]) -> None:
    """Refuse when another program (bake-tracker) has the database open or unsaved changes in it.

    Raises:
        DatabaseRefused: ``close bake-tracker first``, naming what was found.
    """
    p = Path(path)
    if not p.exists():
        return
    wal = Path(f"{p}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise DatabaseRefused(f"{p}: {APP_OPEN} (it has unsaved changes in {wal.name})")
    conn = sqlite3.connect(p, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
    except sqlite3.DatabaseError as exc:
        raise refusal(exc, p) from None
    finally:
        conn.close()


@contextlib.contextmanager
def open_database(path: str | os.PathLike[str], *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """Open a database; read-only unless ``write`` (``query_only``, so nothing can change it).

    A plain connection is used rather than ``mode=ro`` so that no ``-wal``/``-shm`` file is left
    behind beside a WAL-mode database when it closes.
    """
    conn = sqlite3.connect(Path(path), timeout=1, isolation_level=None)
    try:
        if not write:
            conn.execute("PRAGMA query_only=ON")
        yield conn
    finally:
        conn.close()


def broken_references(path: str | os.PathLike[str]) -> dict[str, int]:
    """Rows that point to a row that does not exist (``PRAGMA foreign_key_check``), per table."""
    counts: dict[str, int] = {}
    with open_database(path) as conn:
        for table, *_ in conn.execute("PRAGMA foreign_key_check"):
            counts[table] = counts.get(table, 0) + 1
    return counts


def inspect_database(
    path: str | os.PathLike[str], *, label: str | None = None, integrity: bool = True, quick: bool = False
) -> DatabaseInfo:
    """Check that ``path`` is a sound bake-tracker database and tell its version and row counts.

    ``integrity`` runs ``PRAGMA integrity_check``; with ``quick``, ``PRAGMA quick_check`` instead (every
    page and record, not the indexes against their tables: about ten times faster).

    Raises:
        DatabaseRefused: missing, empty, not SQLite, truncated or corrupt, or not bake-tracker's.
    """
    p = Path(path)
    name = label or str(p)
    _check_file(p, name)
    try:
        with open_database(p) as conn:
            if integrity:
                result = conn.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check").fetchone()[0]
                if result != "ok":
                    raise DatabaseRefused(f"{name}: the database is corrupt ({result})")
            version = detect_schema_version(conn, name)
            counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in user_tables(conn)}
    except sqlite3.DatabaseError as exc:
        raise refusal(exc, name) from None
    return DatabaseInfo(path=p, schema_version=version, size_bytes=p.stat().st_size, row_counts=counts)


def copy_database(source: str | os.PathLike[str], target: str | os.PathLike[str], *, advance=None) -> None:
    """Copy ``source`` to a new file ``target`` with SQLite's online backup API (WAL content included)."""
    with open_database(source) as src:
        dst = sqlite3.connect(Path(target), isolation_level=None)
        try:
            done = [0]

            def _progress(status: int, remaining: int, total: int) -> None:
                if advance is not None:
                    advance(total - remaining - done[0])
                done[0] = total - remaining

            src.backup(dst, pages=4096, progress=_progress)
        finally:
            dst.close()


def content_digest(path: str | os.PathLike[str]) -> str:
    """A SHA-256 over a database's schema and every row of every table, in rowid order.

    Two files with the same digest hold the same data, whatever their page layout or header.
    """
    digest = hashlib.sha256()
    with open_database(path) as conn:
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ):
            digest.update(f"{name}\x1f{sql}\x1e".encode())
        for table in user_tables(conn):
            digest.update(f"\x1d{table}\x1d".encode())
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                digest.update(repr(row).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
