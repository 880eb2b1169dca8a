"""Opening bake-tracker databases safely: checks that refuse a wrong, broken or busy file."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sqlite3
import stat
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
    if not stat.S_ISREG(path.stat().st_mode):  # a pipe or a device would block or never end
        raise DatabaseRefused(f"{label}: not a regular file (a named pipe, a device or a socket), not a database file")
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


_INTEGER, _NUMBER, _TEXT = "a whole number", "a number", "a text"
STORED_KINDS: dict[str, dict[str, str]] = {
    "production_runs": {
        "id": _INTEGER, "recipe_id": _INTEGER, "finished_unit_id": _INTEGER, "event_id": _INTEGER,
        "num_batches": _INTEGER, "expected_yield": _INTEGER, "actual_yield": _INTEGER, "notes": _TEXT,
        "total_ingredient_cost": _NUMBER, "per_unit_cost": _NUMBER, "uuid": _TEXT,
        "production_status": _TEXT, "loss_quantity": _INTEGER,
    },
    "production_consumptions": {
        "id": _INTEGER, "production_run_id": _INTEGER, "ingredient_slug": _TEXT, "quantity_consumed": _NUMBER,
        "unit": _TEXT, "total_cost": _NUMBER, "uuid": _TEXT,
    },
    "production_losses": {
        "id": _INTEGER, "production_run_id": _INTEGER, "finished_unit_id": _INTEGER, "loss_category": _TEXT,
        "loss_quantity": _INTEGER, "notes": _TEXT, "per_unit_cost": _NUMBER, "total_loss_cost": _NUMBER,
        "uuid": _TEXT,
    },
}
"""What the app stores in each column of the production tables that the export writes (its timestamps are
checked where they are read): a value of another kind cannot be exported as the app's format."""
_STORAGE = {_INTEGER: ("integer", "null"), _NUMBER: ("integer", "real", "null"), _TEXT: ("text", "null")}


def _finite_number_text(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _shown_value(value: object) -> str:
    if isinstance(value, bytes):
        return f"binary data (a BLOB of {len(value):,} bytes)"
    kind = "text" if isinstance(value, str) else "the number"
    text = repr(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"


def unexportable_value(conn: sqlite3.Connection, label: object) -> DatabaseRefused | None:
    """The refusal for the first stored value of a production table the export cannot write, or None.

    Each column must hold what the app stores there (`STORED_KINDS`): a text in a NUMERIC column
    (other than a number's text), a BLOB or a number in a text column, a fraction in an integer one.
    The message names the table, the row id, the column and the value.
    """
    for table, kinds in STORED_KINDS.items():
        present = {row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))}
        for column, kind in kinds.items():
            if column not in present:
                continue
            name, storage = column, (*_STORAGE[kind], "null", "null")[:3]
            rows = conn.execute(
                f'SELECT rowid, "{name}" FROM "{table}" WHERE typeof("{name}") NOT IN (?, ?, ?)', storage
            )
            for rowid, value in rows:
                if kind == _NUMBER and isinstance(value, str) and _finite_number_text(value):
                    continue
                return DatabaseRefused(
                    f"{label}: {table} row id {rowid}, column {column}: holds {_shown_value(value)} where "
                    f"bake-tracker stores {kind}; correct that value in the app (or restore a sound backup) "
                    "before migrating"
                )
    return None


def refuse_unexportable_values(path: str | os.PathLike[str], label: object = None) -> None:
    """Refuse a database holding a value the export cannot write (see `unexportable_value`).

    Raises:
        DatabaseRefused: naming the table, the row id, the column and the value.
    """
    try:
        with open_database(path) as conn:
            problem = unexportable_value(conn, label or path)
    except sqlite3.DatabaseError as exc:
        raise refusal(exc, label or path) from None
    if problem is not None:
        raise problem


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
