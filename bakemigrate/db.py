"""Opening bake-tracker databases safely: checks that refuse a wrong, broken or busy file."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sqlite3
import stat
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DatabaseRefused
from .schema_objects import refuse_unless_kept_on_v07
from .tables import SchemaVersion, detect_schema_version, user_tables

SQLITE_HEADER = b"SQLite format 3\x00"
APP_OPEN = "close bake-tracker first"
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
"""The first bytes of a rollback journal that still holds a save to undo (a *hot* journal)."""
_DB_LOCKS = (0x40000000, 512 + 2)
"""SQLite's lock bytes in a database file (pending, reserved and shared), as (start, length)."""
_SHM_LOCKS = (120, 9)
"""SQLite's lock bytes in a `-shm` file (the WAL locks and the one every open connection holds)."""


@dataclass
class DatabaseInfo:
    """What a first look at a database found."""

    path: Path
    schema_version: SchemaVersion
    size_bytes: int
    row_counts: dict[str, int] = field(default_factory=dict)
    unsaved_wal: bool = False
    """The `-wal` beside it holds changes not yet written into the file (an app stopped without closing)."""

    own_objects: int = 0
    """Triggers, indexes and views of the database's own that refer to the production tables (kept on v0.7)."""

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


def _locked_by_another_process(path: Path, start: int, length: int) -> bool | None:
    """True when another process holds a SQLite lock on those bytes of `path` (None: cannot tell here).

    Asks the system (`F_GETLK`) without taking any lock. No connection of this process may be open on
    the file meanwhile: closing the descriptor drops this process's own POSIX locks on it.
    """
    formats = {"linux": "hhqqi4x", "darwin": "qqihh"}
    fmt = next((f for name, f in formats.items() if sys.platform.startswith(name)), None)
    if fmt is None:
        return None
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)  # F_GETLK asks; it needs no write access
    except OSError:
        return None
    try:
        if fmt.startswith("h"):
            request = struct.pack(fmt, fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
            return struct.unpack(fmt, fcntl.fcntl(fd, fcntl.F_GETLK, request))[0] != fcntl.F_UNLCK
        request = struct.pack(fmt, start, length, 0, fcntl.F_WRLCK, os.SEEK_SET)
        return struct.unpack(fmt, fcntl.fcntl(fd, fcntl.F_GETLK, request))[3] != fcntl.F_UNLCK
    except OSError:
        return None
    finally:
        os.close(fd)


def in_use_by_another_process(path: str | os.PathLike[str]) -> bool | None:
    """True when another process has the database open in WAL mode or holds a lock on it now."""
    p = Path(path)
    answers = [_locked_by_another_process(p, *_DB_LOCKS)]
    shm = Path(f"{p}-shm")
    if shm.exists():
        answers.append(_locked_by_another_process(shm, *_SHM_LOCKS))
    if any(answers):
        return True
    return None if None in answers else False


def hot_journal(path: str | os.PathLike[str]) -> Path | None:
    """The `-journal` beside `path` when it still holds a save to undo (a crash mid-save), else None."""
    journal = Path(f"{path}-journal")
    try:
        with open(journal, "rb") as fh:
            return journal if fh.read(8) == JOURNAL_MAGIC else None
    except OSError:
        return None


def unsaved_wal(path: str | os.PathLike[str]) -> Path | None:
    """The `-wal` beside `path` when it holds changes (frames) not yet in the file, else None."""
    wal = Path(f"{path}-wal")
    try:
        return wal if wal.stat().st_size > 32 else None  # a WAL header alone holds no change
    except OSError:
        return None


def _wal_mode(path: Path) -> bool:
    """True when the file's header says WAL mode (bytes 18-19), or a `-wal` is beside it."""
    if Path(f"{path}-wal").exists():
        return True
    try:
        with open(path, "rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == 2


def refusal(exc: sqlite3.DatabaseError, label: object) -> DatabaseRefused:
    """The one-line refusal for a SQLite error met while opening or reading ``label``."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return DatabaseRefused(f"{label}: {APP_OPEN} (the database is in use)")
    return DatabaseRefused(f"{label}: not a usable SQLite database ({text})")


def ensure_not_in_use(path: str | os.PathLike[str]) -> None:
    """Refuse when another program (bake-tracker) has the database open, or a save was cut off.

    Nothing is written: a database in WAL mode is only looked at (the locks other processes hold on
    it); a rollback-journal database gets an exclusive lock taken and released, which writes nothing.
    A `-wal` with changes that no process holds any more (the app was stopped without closing) is
    not a refusal: those changes are read with the file, so the backup and the migration hold them.

    Raises:
        DatabaseRefused: ``close bake-tracker first``, naming what was found, or an interrupted save.
    """
    p = Path(path)
    if not p.exists():
        return
    held = in_use_by_another_process(p)
    wal = unsaved_wal(p)
    if held and wal is not None:
        raise DatabaseRefused(f"{p}: {APP_OPEN} (it has unsaved changes in {wal.name})")
    if held:
        raise DatabaseRefused(f"{p}: {APP_OPEN} (the database is in use)")
    journal = hot_journal(p)
    if journal is not None:
        raise DatabaseRefused(
            f"{p}: a save was cut off ({journal.name} beside it holds a change bake-tracker did not finish, "
            "left by a crash or a power cut); open bake-tracker once and close it normally so SQLite undoes "
            "that change, then run this again; do not delete the -journal file"
        )
    if _wal_mode(p):
        if held is None and wal is not None:  # where locks cannot be asked about, unsaved changes mean in use
            raise DatabaseRefused(f"{p}: {APP_OPEN} (it has unsaved changes in {wal.name})")
        return
    conn = sqlite3.connect(p, timeout=0, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("ROLLBACK")
    except sqlite3.DatabaseError as exc:
        raise refusal(exc, p) from None
    finally:
        conn.close()


def _read_only_uri(path: Path) -> str:
    """A URI that opens `path` read-only and never writes it or its `-wal` (no checkpoint on close).

    `immutable=1` (no locks, no `-wal`/`-shm` made) only when there is no `-wal` to read: a WAL-mode
    file opened `mode=ro` would otherwise leave an empty `-wal` and `-shm` beside it.
    """
    uri = Path(os.path.abspath(path)).as_uri()
    if _wal_mode(path) and not Path(f"{path}-wal").exists():
        return f"{uri}?immutable=1"
    return f"{uri}?mode=ro"


def refuse_cut_off_save(path: Path) -> None:
    """Refuse a database whose `-journal` still holds a save to undo: opening it would roll that back.

    Raises:
        DatabaseRefused: a `-journal` beside the file holds a save that was cut off.
    """
    if hot_journal(path) is not None:
        raise DatabaseRefused(
            f"{path}: a save was cut off ({path.name}-journal beside it holds a change that was not finished); "
            "open bake-tracker once and close it normally, then run this again"
        )


@contextlib.contextmanager
def open_database(path: str | os.PathLike[str], *, write: bool = False) -> Iterator[sqlite3.Connection]:
    """Open a database; read-only unless ``write``.

    Read-only is SQLite's own `mode=ro` (or `immutable=1`, see `_read_only_uri`): nothing can change
    the file, a `-wal` left by a stopped app is read and kept, and closing never checkpoints.

    Raises:
        DatabaseRefused: read-only, a `-journal` beside the file holds a save that was cut off.
    """
    p = Path(path)
    if not write:
        refuse_cut_off_save(p)
    if write:
        conn = sqlite3.connect(p, timeout=1, isolation_level=None)
    else:
        conn = sqlite3.connect(_read_only_uri(p), timeout=1, isolation_level=None, uri=True)
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
        columns = [(column, kind) for column, kind in kinds.items() if column in present]
        if not columns:
            continue
        # one pass over the table for all its columns; the first bad value of the first column that has one
        storages = [(*_STORAGE[kind], "null", "null")[:3] for _, kind in columns]
        odd = " OR ".join(f'typeof("{column}") NOT IN (?, ?, ?)' for column, _ in columns)
        names = ", ".join(f'"{column}"' for column, _ in columns)
        first: dict[str, tuple[int, object]] = {}
        for rowid, *values in conn.execute(f'SELECT rowid, {names} FROM "{table}" WHERE {odd}',
                                           [kind for storage in storages for kind in storage]):
            for (column, kind), storage, value in zip(columns, storages, values, strict=True):
                if column in first or _stored_type(value) in storage:
                    continue
                if kind == _NUMBER and isinstance(value, str) and _finite_number_text(value):
                    continue
                first[column] = (rowid, value)
        for column, kind in columns:
            if column in first:
                rowid, value = first[column]
                return DatabaseRefused(
                    f"{label}: {table} row id {rowid}, column {column}: holds {_shown_value(value)} where "
                    f"bake-tracker stores {kind}; correct that value in the app (or restore a sound backup) "
                    "before migrating"
                )
    return None


def _stored_type(value: object) -> str:
    """SQLite's ``typeof`` of a value as the driver returns it."""
    if value is None:
        return "null"
    return {int: "integer", float: "real", str: "text", bytes: "blob"}[type(value)]


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


_DIGITS = "[0-9]"
APP_TIMESTAMP = f"{_DIGITS * 4}-{_DIGITS * 2}-{_DIGITS * 2} {_DIGITS * 2}:{_DIGITS * 2}:{_DIGITS * 2}.{_DIGITS * 6}"
"""The app's own way of storing a date and time (`2024-04-27 01:27:43.596854`), as a GLOB pattern."""


@dataclass
class OddTimestamp:
    """The first timestamp of a production table that is not stored as the app stores them."""

    table: str
    column: str
    row_id: int
    run_id: int | None
    value: object
    count: int
    """How many such values the production tables hold in all."""


_TIME_SHAPE = f"{_DIGITS * 4}-{_DIGITS * 2}-{_DIGITS * 2} [0-2]{_DIGITS}:[0-5]{_DIGITS}:[0-5]{_DIGITS}.{_DIGITS * 6}"
"""`APP_TIMESTAMP` with minutes and seconds below 60: with an hour of at most 24, exactly the texts whose
time SQLite's ``time()`` reads back unchanged (checked for every `HH:MM:SS` in the tests)."""


def _odd_timestamp_sql(name: str) -> str:
    """The condition a stored value of column ``name`` meets when it is not an app timestamp (slow, exact)."""
    return (f'"{name}" IS NOT NULL AND (typeof("{name}") != \'text\' OR "{name}" NOT GLOB :app '
            f'OR date(substr("{name}", 1, 10), \'+0 days\') IS NOT substr("{name}", 1, 10) '
            f'OR time(substr("{name}", 12, 8)) IS NOT substr("{name}", 12, 8))')


def _odd_shape_sql(name: str) -> str:
    """The condition a stored value of column ``name`` meets when its shape is not an app timestamp's."""
    return (f'"{name}" IS NOT NULL AND (typeof("{name}") != \'text\' OR "{name}" NOT GLOB :shape '
            f'OR substr("{name}", 12, 2) > \'24\')')


def _odd_timestamp_count(conn: sqlite3.Connection, table: str, name: str) -> int:
    """How many values of ``table.name`` meet `_odd_timestamp_sql`, computed the fast way.

    The shape (type, digits, an hour up to 24, minutes and seconds below 60) is checked row by row, which
    is cheap; the date, which needs SQLite's ``date()``, only once per distinct day (a history holds a
    few thousand days, not a million).
    """
    odd_shape = _odd_shape_sql(name)
    params = {"shape": _TIME_SHAPE}
    count = conn.execute(f'SELECT count(*) FROM "{table}" WHERE {odd_shape}', params).fetchone()[0]
    odd_days = (f'SELECT day FROM (SELECT DISTINCT substr("{name}", 1, 10) AS day FROM "{table}" '
                f'WHERE "{name}" IS NOT NULL) WHERE date(day, \'+0 days\') IS NOT day')
    if conn.execute(f"SELECT EXISTS ({odd_days})").fetchone()[0]:  # rare: a sound shape on a day that does not exist
        count += conn.execute(f'SELECT count(*) FROM "{table}" WHERE NOT ({odd_shape}) AND substr("{name}", 1, 10) IN '
                              f"({odd_days})", params).fetchone()[0]
    return count


def _odd_timestamp_counts(conn: sqlite3.Connection, table: str, names: list[str]) -> list[int]:
    """`_odd_timestamp_count` of each column of ``names``, in one pass over ``table``.

    A value that is the very value of the column before it (``updated_at`` is ``created_at``'s text in
    every row the app writes) is judged as that one was and not checked again: where the two are the same
    (SQLite's ``IS``: the same text, or numbers, or both NULL) both are odd or neither is. The days of
    the texts are gathered (distinct) in the same pass (any other value is odd by its type); when one
    does not exist, every column is counted the slow way.
    """
    parts = []
    for i, name in enumerate(names):
        parts.append(f"count(*) FILTER (WHERE {_odd_shape_sql(name)})" if i == 0 else
                     f'count(*) FILTER (WHERE "{name}" IS NOT "{names[i - 1]}" AND ({_odd_shape_sql(name)})), '
                     f'count(*) FILTER (WHERE "{name}" IS NOT "{names[i - 1]}" AND ({_odd_shape_sql(names[i - 1])}))')
        different = "" if i == 0 else f' AND "{name}" IS NOT "{names[i - 1]}"'
        parts.append(f'json_group_array(DISTINCT substr("{name}", 1, 10)) '
                     f'FILTER (WHERE typeof("{name}") = \'text\'{different})')
    sql = f'SELECT {", ".join(parts)} FROM "{table}"'  # conditions built from the column names alone
    row = conn.execute(sql, {"shape": _TIME_SHAPE}).fetchone()
    counts, days, at = [], [], 0
    for i in range(len(names)):
        if i == 0:
            counts.append(row[at])
            at += 1
        else:  # the column before's count, less its odd values where the two differ, plus this one's there
            counts.append(counts[-1] - row[at + 1] + row[at])
            at += 2
        days.append(row[at])
        at += 1
    exists = "SELECT EXISTS (SELECT 1 FROM json_each(?) WHERE date(value, '+0 days') IS NOT value)"
    if any(conn.execute(exists, (found,)).fetchone()[0] for found in days):  # rare: a day that does not exist
        return [_odd_timestamp_count(conn, table, name) for name in names]
    return counts


def odd_timestamps(path: str | os.PathLike[str]) -> OddTimestamp | None:
    """The first date-and-time value of the production tables not in the app's format, or None.

    Only values the app writes round-trip exactly through its export: text `YYYY-MM-DD HH:MM:SS.ffffff`
    that is a real date and time (a date alone, a `T`, no fraction or a number do not).
    """
    from .tables import PRODUCTION_TABLES_V07

    found: OddTimestamp | None = None
    total = 0
    with open_database(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in (t for t in PRODUCTION_TABLES_V07 if t in tables):
            columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
            first = "production_run_id" if "production_run_id" in columns else "id"
            names = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')
                     if "DATE" in str(row[2]).upper() or "TIME" in str(row[2]).upper()]
            for name, count in zip(names, _odd_timestamp_counts(conn, table, names) if names else [], strict=True):
                total += count
                if count and found is None:
                    odd = _odd_timestamp_sql(name)
                    row = conn.execute(f'SELECT id, "{first}", "{name}" FROM "{table}" WHERE {odd} ORDER BY id LIMIT 1',
                                       {"app": APP_TIMESTAMP}).fetchone()
                    found = OddTimestamp(table, name, row[0], row[1], row[2], 0)
    if found is not None:
        found.count = total
    return found


def integrity_check(conn: sqlite3.Connection, *, quick: bool = False) -> str:
    """The first line of ``PRAGMA integrity_check`` (with ``quick``, ``quick_check``) on ``conn``: ``ok``
    for a sound file. For the full check the connection's page cache is raised to 16 MB first: it
    visits the pages of the tables again for every index, and takes a fifth less time with more of
    them kept (a larger cache gains little more, and costs memory)."""
    if not quick:
        conn.execute("PRAGMA cache_size=-16384")
    return conn.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check").fetchone()[0]


def _check_parts(conn: sqlite3.Connection, workers: int) -> list[list[tuple[int, str]]]:
    """The parts of a full integrity check (`integrity_check_side_by_side`) in ``workers`` groups of about
    equal work, each part with its place in the fixed order: `quick_check` first, then the tables by name.
    A table's work is taken as its rows times its b-trees (the table and each index)."""
    parts = []
    tables = conn.execute("SELECT name, (SELECT count(*) FROM sqlite_master AS i WHERE i.tbl_name = t.name "
                          "AND i.type = 'index') FROM sqlite_master AS t WHERE type = 'table' AND rootpage > 0 "
                          "ORDER BY name").fetchall()
    for place, (table, indexes) in enumerate(tables, start=1):
        name = table.replace('"', '""')
        work = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] * (1 + indexes)
        parts.append((place, f'PRAGMA integrity_check("{name}")', work))
    # every page and record once, the indexes not looked up: about a tenth of the rest
    parts.append((0, "PRAGMA quick_check", sum(work for *_, work in parts) // 10))
    groups: list[list[tuple[int, str]]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for place, sql, work in sorted(parts, key=lambda part: -part[2]):  # the largest first, to the lightest group
        lightest = loads.index(min(loads))
        groups[lightest].append((place, sql))
        loads[lightest] += work
    return [group for group in groups if group]


def integrity_check_side_by_side(path: str | os.PathLike[str], *, workers: int = 2) -> str:
    """The first line of a full ``PRAGMA integrity_check`` of the file at ``path``, made of its parts run
    side by side on ``workers`` connections (SQLite checks without the GIL, a core each).

    The parts check together what the whole pragma checks: ``quick_check`` (every page and record, the
    free list, pages no table uses, NOT NULL and CHECK) and each table's ``integrity_check(TABLE)`` (its
    b-trees, and its rows against its indexes: an entry for every row, no other, UNIQUE kept). ``ok`` for
    a sound file; else the first line of the first part, in a fixed order, that found damage.
    """
    from concurrent.futures import ThreadPoolExecutor

    def run(group: list[tuple[int, str]]) -> tuple[int, str] | None:
        with open_database(path) as conn:
            conn.execute("PRAGMA cache_size=-16384")
            for place, sql in sorted(group):
                result = conn.execute(sql).fetchone()[0]
                if result != "ok":
                    return place, result
        return None

    with open_database(path) as conn:
        groups = _check_parts(conn, workers)
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        found = [hit for hit in pool.map(run, groups) if hit is not None]
    return min(found)[1] if found else "ok"


def inspect_database(
    path: str | os.PathLike[str], *, label: str | None = None, integrity: bool = True, quick: bool = False,
    conn: sqlite3.Connection | None = None, side_by_side: bool = True,
) -> DatabaseInfo:
    """Check that ``path`` is a sound bake-tracker database and tell its version and row counts.

    ``integrity`` runs ``PRAGMA integrity_check`` (its parts side by side unless not ``side_by_side``,
    see `integrity_check_side_by_side`); with ``quick``, ``PRAGMA quick_check`` instead (every page and
    record, not the indexes against their tables: about ten times faster). ``conn`` is a
    connection already open on ``path`` (see `open_inspected`): the look is taken on it.

    Raises:
        DatabaseRefused: missing, empty, not SQLite, truncated or corrupt, or not bake-tracker's.
    """
    p = Path(path)
    name = label or str(p)
    own_connections = conn is None  # the full check then runs on connections of its own, side by side
    if own_connections:
        _check_file(p, name)
    try:
        with open_database(p) if conn is None else contextlib.nullcontext(conn) as conn:
            if integrity:
                result = (integrity_check_side_by_side(p) if side_by_side and not quick and own_connections
                          else integrity_check(conn, quick=quick))
                _refuse_corrupt(result, name)
            version = detect_schema_version(conn, name)
            counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in user_tables(conn)}
            own = refuse_unless_kept_on_v07(conn, name) if version == "0.6" else 0
    except sqlite3.DatabaseError as exc:
        raise refusal(exc, name) from None
    return DatabaseInfo(path=p, schema_version=version, size_bytes=p.stat().st_size, row_counts=counts,
                        unsaved_wal=unsaved_wal(p) is not None, own_objects=own)


def _refuse_corrupt(result: str, name: str) -> None:
    if result != "ok":
        raise DatabaseRefused(f"{name}: the database is corrupt ({result})")


def refuse_unless_sound(path: str | os.PathLike[str]) -> None:
    """Refuse ``path``, a file `inspect_database` has looked at, when SQLite's ``quick_check`` finds it
    damaged (every page and record), in `inspect_database`'s words.

    Raises:
        DatabaseRefused: the database is corrupt, or cannot be read.
    """
    try:
        with open_database(path) as conn:
            _refuse_corrupt(integrity_check(conn, quick=True), str(path))
    except sqlite3.DatabaseError as exc:
        raise refusal(exc, path) from None


@contextlib.contextmanager
def open_inspected(
    path: str | os.PathLike[str], *, write: bool = False, label: str | None = None
) -> Iterator[tuple[sqlite3.Connection, DatabaseInfo]]:
    """Open ``path`` (read-only unless ``write``) and look at it on that same connection, as
    `inspect_database` does without its integrity check: yields the connection and the look.

    Raises:
        DatabaseRefused: missing, empty, not SQLite, truncated, a save cut off beside it, or not bake-tracker's.
    """
    p = Path(path)
    name = label or str(p)
    _check_file(p, name)  # before connecting: a connection would create a missing file
    refuse_cut_off_save(p)  # a connection that writes would roll it back
    with contextlib.ExitStack() as stack:
        try:
            conn = stack.enter_context(open_database(p, write=write))
        except sqlite3.DatabaseError as exc:
            raise refusal(exc, name) from None
        yield conn, inspect_database(p, label=label, integrity=False, conn=conn)


def copy_database(
    source: str | os.PathLike[str], target: str | os.PathLike[str], *, advance=None,
    then: Callable[[sqlite3.Connection], None] | None = None,
) -> None:
    """Copy ``source`` to a new file ``target`` with SQLite's online backup API (WAL content included).

    ``then`` is given the connection on ``target`` once the copy is made, to go on writing it there.
    """
    with open_database(source) as src:
        dst = sqlite3.connect(Path(target), isolation_level=None)
        try:
            done = [0]

            def _progress(status: int, remaining: int, total: int) -> None:
                if advance is not None:
                    advance(total - remaining - done[0])
                done[0] = total - remaining

            src.backup(dst, pages=4096, progress=_progress)
            if then is not None:
                then(dst)
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
