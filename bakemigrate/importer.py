"""Step 5, import: a production-history document (v1.0 or v1.1) into a v0.7 staging database.

All or nothing: every run is resolved and checked first, then everything is inserted in one
transaction. References resolve by uuid when the document carries them (bakemigrate's exports
do), else by name or slug as the app does; an ambiguous name is an error, never a guess.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from .db import open_inspected
from .errors import InvalidDocument, MigrationError
from .files import temporary_beside
from .formats import ProblemList, detect_kind, find_problems, run_problems, validate_document
from .halves import SecondHalf, SecondHalfFailed, stop_if_parent_gone, tell_parent
from .jsonio import load_json
from .jsonstream import RunStream, own_head, own_runs_with_text, own_split
from .loss_rules import recorded_loss_problems
from .paths import app_database, refuse_output_over
from .progress import progress_bar
from .tables import PRODUCTION_TABLES_V07, v07_columns
from .values import STORED_VALUES_KEY, db_datetime_from_iso, parse_decimal, parse_stored_number

APP_FILE_WARNING = (
    "this document has no event links or ids (it is the app's own export): runs are imported "
    "as standalone runs with new ids and timestamps"
)


@dataclass
class ImportReport:
    """What the import did: counts, skipped duplicates and warnings."""

    path: Path
    staging: Path
    version: str
    runs: int = 0
    consumptions: int = 0
    losses: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        """One line for the terminal."""
        return (
            f"imported {self.runs} production runs, {self.consumptions} consumptions, "
            f"{self.losses} losses into {self.staging}; skipped {len(self.skipped)} duplicates"
        )


_NAMED = (("recipes", "name"), ("finished_units", "slug"), ("events", "name"))


class _Resolver:
    """Looks up recipe, finished unit and event ids in the staging database.

    ``rows`` holds ``[id, uuid, name]`` of every recipe, finished unit (its slug) and event, by table.
    """

    def __init__(self, rows: dict[str, list[list[Any]]]) -> None:
        self.rows = rows
        self.by_uuid: dict[str, dict[str, int]] = {}
        self.by_name: dict[str, dict[str, list[int]]] = {}
        for table, _ in _NAMED:
            uuids: dict[str, int] = {}
            names: dict[str, list[int]] = defaultdict(list)
            for rid, uuid, name in rows[table]:
                uuids[uuid] = rid
                names[name].append(rid)
            self.by_uuid[table], self.by_name[table] = uuids, names

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> _Resolver:
        """The resolver of the database open on ``conn``."""
        return cls({table: [list(row) for row in conn.execute(f"SELECT id, uuid, {name_col} FROM {table}")]
                    for table, name_col in _NAMED})

    def resolve(self, table: str, uuid: Any, name: Any, what: str) -> int:
        if uuid is not None:
            found = self.by_uuid[table].get(uuid)
            if found is None:
                raise InvalidDocument(f"{what} with uuid {uuid} does not exist in the database")
            return found
        ids = self.by_name[table].get(name, [])
        if not ids:
            raise InvalidDocument(f"{what} {name!r} does not exist in the database")
        if len(ids) > 1:
            raise InvalidDocument(f"{what} {name!r} is ambiguous ({len(ids)} share that name)")
        return ids[0]


def _timestamps(item: dict[str, Any], now: str, where: str, trusted: bool) -> tuple[str, str]:
    created = item.get("created_at")
    updated = item.get("updated_at")
    return (
        db_datetime_from_iso(created, where, "created_at", trusted) if created is not None else now,
        db_datetime_from_iso(updated, where, "updated_at", trusted) if updated is not None else now,
    )


def _db_number(value: object, where: str) -> float:
    """A Decimal string as the app stores it: a float (SQLite keeps a whole one as INTEGER)."""
    if type(value) is str:
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and math.isfinite(number):
            return number
    return float(parse_decimal(value, where))


def _numbers(item: dict[str, Any], scales: dict[str, int], where: str, trusted: bool = False) -> list[int | float]:
    """The NUMERIC values of ``item`` (a run, consumption or loss) to store, in the order of ``scales``.

    Each is the exact stored value the document carries in ``stored_values`` (bakemigrate's exports
    add it where the 4-decimal text is not the stored value), else the text as the app stores it.
    With ``trusted`` (bakemigrate's own export, written from the stored values) an exact value is
    read without being held against its text again; the verification compares every stored value
    with the original.
    """
    exact = item.get(STORED_VALUES_KEY)
    if exact is None:
        return [_db_number(item[name], where) for name in scales]
    place = f"{where}.{STORED_VALUES_KEY}"
    if not isinstance(exact, dict):
        raise InvalidDocument(f"{place}: not an object of stored values")
    unknown = sorted(set(exact) - set(scales))
    if unknown:
        raise InvalidDocument(f"{place}: {', '.join(map(str, unknown))} is not a NUMERIC field here")
    return [
        parse_stored_number(exact[name], item[name], scale, f"{place}.{name}", against_text=not trusted)
        if name in exact else _db_number(item[name], where)
        for name, scale in scales.items()
    ]


_RUN_NUMBERS = {"total_ingredient_cost": 4, "per_unit_cost": 4}
_CONSUMPTION_NUMBERS = {"quantity_consumed": 3, "total_cost": 4}
_LOSS_NUMBERS = {"per_unit_cost": 4, "total_loss_cost": 4}


class _DocumentRuns:
    """The runs of a document, read one at a time when the file allows it, each checked once.

    ``problems`` collects schema problems (as `bakemigrate.formats.validate_document` words
    them); a run with a problem is passed over, and nothing is imported.
    """

    def __init__(self, path: Path, *, trusted: bool = False) -> None:
        self.path = path
        self.trusted = trusted
        self.fingerprinted = True
        """Whether each run's fingerprint is taken (not when no claims are kept: `_OwnClaims`)."""
        self.start: int = 0
        self.stop: int | None = None
        """A trusted document's runs after ``start`` and up to ``stop`` only (see `jsonstream.own_split`)."""
        self.version = "1.0"
        self.problems = ProblemList()
        self._doc: dict[str, Any] | None = None
        self._stream: RunStream | None = None
        if trusted:  # bakemigrate's own layout: its head is read as it was written, without the schema check
            self._take_top({**own_head(path), "production_runs": []})
            return
        self._stream = RunStream(path)
        if not self._stream.streamable:
            self._doc = self._checked_whole(self._stream.whole())
            return
        top = {**self._stream.head, "production_runs": []}
        self._take_top(top)
        self._note_top(top)

    def _take_top(self, top: dict[str, Any]) -> None:
        """The kind and version of the document from its top level (``top``, its runs left out)."""
        try:
            self.kind = detect_kind(top)
        except InvalidDocument as exc:
            raise InvalidDocument(f"{self.path}: {exc}") from None
        self.version = str(top.get("version", "1.0"))
        self._refuse_full_backup()

    def _checked_whole(self, doc: Any) -> dict[str, Any]:
        try:
            self.kind = validate_document(doc)
        except InvalidDocument as exc:
            raise InvalidDocument(f"{self.path}: {exc}") from None
        self._refuse_full_backup()
        self.version = str(doc.get("version", "1.0"))
        return doc

    def _refuse_full_backup(self) -> None:
        if not self.kind.is_history:
            raise InvalidDocument(f"{self.path}: a full backup cannot be imported; use a production-history export")

    def _note_top(self, top: dict[str, Any]) -> None:
        self.problems = find_problems(top, self.kind)

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any], bytes]]:
        """Yield ``(index, run, fingerprint)`` for every run that passes its schema (see `_fingerprint`)."""
        if self._doc is not None:
            for index, run in enumerate(self._doc["production_runs"]):
                yield index, run, _fingerprint(run)
            return
        if self._stream is None:  # trusted: bakemigrate writes equal runs as equal bytes
            for index, (text, run) in enumerate(own_runs_with_text(self.path, start=self.start, stop=self.stop)):
                yield index, run, hashlib.blake2b(text, digest_size=16).digest() if self.fingerprinted else b""
            return
        for index, run in enumerate(self._stream.runs()):
            problems = run_problems(self.kind, run, index)
            if problems:
                self.problems.note(problems)
            else:
                yield index, run, _fingerprint(run)

    def finish(self) -> None:
        """Raise the schema problems found, or an error the keys after the runs bring."""
        tail = self._stream.tail if self._stream is not None else None
        if tail:  # keys after production_runs: the whole document decides (rare; read it again)
            self._checked_whole(load_json(self.path))
        self.problems.refuse(self.kind, self.path)


def import_(
    document: str | os.PathLike[str],
    staging: str | os.PathLike[str],
    *,
    progress: bool = True,
    trusted: bool = False,
) -> ImportReport:
    """Import ``document`` into the v0.7 database ``staging`` in one transaction.

    Ids and timestamps are kept when the document carries them; runs whose uuid is already in the
    database (or earlier in the document) are skipped and reported. The document is read one run
    at a time and rows are written in batches, so memory stays flat at any size.

    ``trusted`` says the document is bakemigrate's own output, proven unchanged since it was written
    (by its SHA-256): its runs skip the JSON Schema check, which guards against foreign or edited
    files, its timestamps (written from the database) are reshaped without being parsed, and into an
    empty staging database its uuids and ids are not claimed one by one (see `_OwnClaims`).

    Raises:
        InvalidDocument: the document is malformed, or some run cannot be resolved (nothing imported).
        MigrationError: ``staging`` is not a v0.7 bake-tracker database.
    """
    path, target = Path(document), Path(staging)
    refuse_output_over(target, [app_database()], "STAGING")
    # One connection looks at the staging database and imports into it (BEGIN is sent below: the DDL
    # is inside the transaction); closing it rolls back a transaction not committed.
    with open_inspected(target, write=True) as (conn, info):
        if info.schema_version != "0.7":
            raise MigrationError(f"{target}: not a v0.7 database; run `bakemigrate reset` first")
        runs_in = _DocumentRuns(path, trusted=trusted)
        report = ImportReport(path=path, staging=target, version=runs_in.version)
        _import_into(conn, path, target, runs_in, report, progress)
    return report


def _import_into(conn: sqlite3.Connection, path: Path, target: Path, runs_in: _DocumentRuns, report: ImportReport,
                 progress: bool) -> None:
    """The runs of ``runs_in`` into the staging database open on ``conn``, in one transaction."""
    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        # The staging file is rebuilt from scratch after a crash and made durable before the switch.
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-65536")
        # The uuids met are checked in TEMP tables (see _Claims): on disk, with a bounded cache.
        conn.execute("PRAGMA temp_store=FILE")
        conn.execute("PRAGMA temp.cache_size=-32768")
        # The indexes made again after the rows are in (see `_import_runs`) are sorted on two cores.
        conn.execute("PRAGMA threads=2")
        with progress_bar("import", None, enabled=progress) as advance:
            try:
                _import_attempt(conn, runs_in, report, now, advance, halves=True)
            except _InOrder:  # a problem the halves cannot word as a whole import does: that import says it
                report.skipped.clear()
                report.warnings.clear()
                _import_attempt(conn, _DocumentRuns(path, trusted=True), report, now, advance, halves=False)
    except sqlite3.IntegrityError as exc:
        raise InvalidDocument(f"{path}: breaks a database rule, nothing was imported ({exc})") from None
    except (OverflowError, sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.DataError) as exc:
        raise InvalidDocument(f"{path}: a value cannot be stored, nothing was imported ({exc})") from None
    except sqlite3.OperationalError as exc:
        raise MigrationError(f"{target}: cannot write ({exc})") from None


def _import_attempt(conn: sqlite3.Connection, runs_in: _DocumentRuns, report: ImportReport, now: str, advance,
                    *, halves: bool) -> None:
    """One transaction importing ``runs_in``, committed, or rolled back whatever stops it."""
    with contextlib.ExitStack() as after:
        conn.execute("BEGIN")
        after.callback(_roll_back_unless_committed, conn)
        _import_runs(conn, runs_in, report, now, advance, after if halves else None)
        conn.execute("COMMIT")


def _roll_back_unless_committed(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _detach(conn: sqlite3.Connection, name: str) -> None:
    """Detach the second process's file attached as ``name`` (once the transaction is over: rolled
    back if it was not committed)."""
    _roll_back_unless_committed(conn)
    conn.execute(f"DETACH DATABASE {name}")


def _insert_sql(table: str, columns: list[str]) -> str:
    return f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" for _ in columns)})'


class _Batches:
    """Rows waiting to be inserted, written with the driver's ``executemany`` every ``size`` rows."""

    def __init__(self, conn, advance, size: int = 20_000) -> None:
        self.conn, self.advance, self.size = conn, advance, size
        self.sql = {table: _insert_sql(table, columns) for table, columns in v07_columns().items()}
        self.rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in v07_columns()}

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.rows[table].append(row)
        if len(self.rows[table]) >= self.size:
            self.flush()

    def extend(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.rows[table].extend(rows)
            if len(self.rows[table]) >= self.size:
                self.flush()

    def flush(self) -> None:
        for name, rows in self.rows.items():  # parents first
            if rows:
                self.conn.executemany(self.sql[name], rows)
                self.advance(len(rows))
                rows.clear()


def _fingerprint(run: dict[str, Any]) -> bytes:
    """A digest of everything ``run`` holds, whatever the order of its keys (equal runs, equal digests).

    The runs of a trusted document (bakemigrate's own export, which writes equal runs as equal
    bytes) are fingerprinted by the bytes they were read from instead.
    """
    try:
        text = orjson.dumps(run, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits
        text = json.dumps(run, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).digest()


def _new_child(item: dict[str, Any], seen: set[str], now: str, where: str, trusted: bool) -> tuple[str, str]:
    """Claim a consumption's or loss's uuid (a repeat is an error) and return its stored timestamps."""
    if item["uuid"] in seen:
        raise InvalidDocument(f"{where}: uuid {item['uuid']} appears twice")
    seen.add(item["uuid"])
    return _timestamps(item, now, where, trusted)


CHUNK_RUNS = 2_000
"""How many runs of the document are looked up in the database together (their uuids and ids)."""
BATCH_ROWS = 20_000
"""How many rows are sent to SQLite together (one `executemany`)."""
_SQL_INT = range(-(2**63), 2**63)


class _Claims:
    """The uuids and ids the import has met, kept in TEMP tables of the staging connection.

    Memory stays flat at any size: a chunk of runs is looked up at once (``lookup``), decided in
    document order against what the chunk brings back plus what it claims itself, and its new
    claims are written (``store``). ``bm_runs`` holds each run uuid met first at ``idx`` with the
    digest of its content (``idx`` NULL for a run already in the database), ``bm_children`` every
    consumption and loss uuid, ``bm_ids`` every run id taken.
    """

    def __init__(self, conn) -> None:
        self.conn = conn
        for statement in (
            "CREATE TEMP TABLE bm_runs (uuid TEXT PRIMARY KEY, idx INTEGER, fp BLOB) WITHOUT ROWID",
            "CREATE TEMP TABLE bm_children (uuid TEXT PRIMARY KEY) WITHOUT ROWID",
            "CREATE TEMP TABLE bm_ids (id INTEGER PRIMARY KEY)",
            "INSERT INTO temp.bm_runs SELECT uuid, NULL, NULL FROM main.production_runs",
            "INSERT OR IGNORE INTO temp.bm_children SELECT uuid FROM main.production_consumptions "
            "UNION ALL SELECT uuid FROM main.production_losses",
            "INSERT INTO temp.bm_ids SELECT id FROM main.production_runs",
        ):
            conn.execute(statement)
        self.max_used = conn.execute("SELECT coalesce(max(id), 0) FROM temp.bm_ids").fetchone()[0]
        self.odd_ids: set[Any] = set()  # ids SQLite cannot hold as an integer (never many)
        self.runs: dict[str, tuple[int | None, bytes | None]] = {}
        self.children: set[str] = set()
        self.ids: set[Any] = set()
        self._known: tuple[set[str], set[Any]] = (set(), set())

    def _select(self, sql: str, values: list[Any]) -> list[Any]:
        return self.conn.execute(sql, (orjson.dumps(values).decode(),)).fetchall() if values else []

    def lookup(self, chunk: list[tuple[int, dict[str, Any], bytes]]) -> None:
        """Bring back what is already claimed among the uuids and ids of ``chunk``."""
        uuids, children, ids = [], [], []
        for _, item, _ in chunk:
            uuids.append(item["uuid"])
            children += [c["uuid"] for c in item["consumptions"]]
            children += [x["uuid"] for x in item.get("losses", [])]
            run_id = item.get("id")
            if type(run_id) is int and run_id in _SQL_INT:
                ids.append(run_id)
        pick = " IN (SELECT value FROM json_each(?))"
        self.runs = {u: (i, f) for u, i, f in self._select(f"SELECT uuid, idx, fp FROM temp.bm_runs WHERE uuid{pick}",
                                                           [u for u in uuids if type(u) is str])}
        self.children = {u for (u,) in self._select(f"SELECT uuid FROM temp.bm_children WHERE uuid{pick}",
                                                    [u for u in children if type(u) is str])}
        self.ids = {i for (i,) in self._select(f"SELECT id FROM temp.bm_ids WHERE id{pick}", ids)} | self.odd_ids
        self._known = (set(self.children), set(self.ids))
        self._runs_known = dict(self.runs)

    def store(self) -> None:
        """Write the claims the chunk made."""
        fresh = [(u, i, f) for u, (i, f) in self.runs.items() if self._runs_known.get(u) != (i, f)]
        if fresh:
            self.conn.executemany(
                "INSERT INTO temp.bm_runs VALUES (?, ?, ?) ON CONFLICT (uuid) DO UPDATE SET idx = excluded.idx, "
                "fp = excluded.fp", sorted(fresh))
        children = sorted((u,) for u in self.children - self._known[0])
        if children:
            self.conn.executemany("INSERT INTO temp.bm_children VALUES (?)", children)
        ids = self.ids - self._known[1]
        rows = sorted((i,) for i in ids if type(i) is int and i in _SQL_INT)
        self.odd_ids |= {i for i in ids if not (type(i) is int and i in _SQL_INT)}
        if rows:
            self.conn.executemany("INSERT INTO temp.bm_ids VALUES (?)", rows)

    def drop(self) -> None:
        for name in ("bm_runs", "bm_children", "bm_ids"):
            self.conn.execute(f"DROP TABLE temp.{name}")


class _Unkept:
    """A set or mapping that keeps nothing: nothing is ever in it (see `_OwnClaims`)."""

    def __contains__(self, key: object) -> bool:
        return False

    def get(self, key: object, default: Any = None) -> Any:
        return default

    def add(self, key: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass


class _OwnClaims:
    """The claims of bakemigrate's own export into an empty staging database: none are kept.

    That document was written from a database whose run and child uuids are unique (its unique
    indexes) and whose run ids are its primary key, and it is proven unchanged since: no uuid or id
    can repeat. The unique indexes and keys of the staging tables would refuse one all the same.
    """

    max_used = 0

    def __init__(self) -> None:
        self.runs: Any = _Unkept()
        self.children: Any = _Unkept()
        self.ids: Any = _Unkept()

    def lookup(self, chunk: list[tuple[int, dict[str, Any], bytes]]) -> None:
        """Nothing to look up."""

    def store(self) -> None:
        """Nothing to keep."""

    def drop(self) -> None:
        """Nothing to drop."""


def _import_runs(conn, runs_in: _DocumentRuns, report: ImportReport, now: str, advance,
                 halves: contextlib.ExitStack | None = None) -> None:
    """The runs into the tables, inside the transaction open on ``conn``.

    With ``halves`` (what to undo once the transaction ends), a large trusted document into an empty
    staging database is read by two processes, half the runs each (see `_take_in_halves`).
    """
    resolver = _Resolver.of(conn)
    had_rows = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM production_runs) OR EXISTS (SELECT 1 FROM production_consumptions) "
        "OR EXISTS (SELECT 1 FROM production_losses)"
    ).fetchone()[0]
    claims: Any = _OwnClaims() if runs_in.trusted and not had_rows else _Claims(conn)
    runs_in.fingerprinted = not isinstance(claims, _OwnClaims)  # nothing compares them then
    # Into empty tables (a fresh staging copy), rows go in faster with the indexes built afterwards.
    indexes = [] if had_rows else _drop_indexes(conn)
    # The database's own triggers on the production tables (an audit trigger) must not fire for rows
    # that are only moved: they are dropped while the rows go in, and made again, in this transaction.
    triggers = _drop_triggers(conn)
    state = _State(batches=_Batches(conn, advance, BATCH_ROWS), claims=claims, max_used=claims.max_used, report=report,
                   resolver=resolver, now=now, trusted=runs_in.trusted)
    split = (own_split(runs_in.path, IMPORT_SHARE) if halves is not None and isinstance(claims, _OwnClaims)
             and runs_in.path.stat().st_size >= HALVES_BYTES else None)
    if split is None:
        _take_runs(state, runs_in)
    else:
        _take_in_halves(conn, state, runs_in, split, halves)
    state.batches.flush()
    claims.drop()
    counts = state.counts
    if indexes:
        # Each index is sorted in pieces of the page cache's size on each sorting thread: small pieces
        # keep memory low and sort faster (at 1,000,000 runs, 4 MB: 7.7 s and 31 MB; 64 MB: 13 s and 273 MB).
        conn.execute("PRAGMA cache_size=-4096")
    for statement in indexes + triggers:
        conn.execute(statement)
    if counts[0] and not state.linked:
        report.warnings.append(APP_FILE_WARNING)
    if state.repeats:
        report.warnings.append(
            f"{state.repeats} runs repeat an earlier run of the document exactly (first: {state.first_repeat}): "
            "each is imported once"
        )
    violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise InvalidDocument(f"{report.path}: {len(violations)} rows would break a reference")
    report.runs, report.consumptions, report.losses = counts


def _take_runs(state: _State, runs_in: _DocumentRuns) -> None:
    """Check every run and queue its rows; a run needing a new id gets one after every id of the document."""
    _take_each(state, runs_in)
    if state.errors.total:
        raise InvalidDocument(
            f"{state.report.path}: {state.errors.total} runs cannot be imported, nothing was imported: "
            f"{state.errors.line()}"
        )
    next_id = state.max_used + 1
    for run, consumptions, losses in state.waiting:
        run_id, next_id = next_id, next_id + 1
        run = (*run[:12], run_id, *run[13:])
        _add_run(state.batches, run, [(run_id, *c[1:]) for c in consumptions],
                 [(run_id, *x[1:]) for x in losses], state.counts)


def _take_each(state: _State, runs_in: _DocumentRuns) -> None:
    """Check the runs of ``runs_in`` chunk by chunk, in document order (see `_take_chunk`)."""
    chunk: list[tuple[int, dict[str, Any], bytes]] = []
    for taken in runs_in:
        chunk.append(taken)
        if len(chunk) >= CHUNK_RUNS:
            _take_chunk(state, chunk)
            chunk = []
    _take_chunk(state, chunk)
    runs_in.finish()


HALVES_BYTES = 8 << 20
"""A trusted document this large (about 3,000 runs) is read by two processes, half the runs each
(below it, starting the second process takes longer than it saves)."""


class _InOrder(Exception):
    """The halves of a document met a problem (or a run without an id) that only a whole import in
    the document's order words right, or numbers right: the import is made again that way."""


IMPORT_SHARE = 0.40
"""The share of a large trusted document (from its start) this process imports itself: the second
process reads the rest, and this one also copies the rows the second one wrote (`_take_in_halves`)."""
IMPORT_PARTS = 4
"""How many parts the second process writes its runs in, each copied in as soon as both are ready."""


def _part_bounds(path: Path, split: int) -> list[tuple[int, int | None]]:
    """The ``(start, stop)`` offsets of the parts of the runs after ``split`` (`own_split` offsets;
    the last one's ``stop`` None: to the end), in the document's order."""
    starts = [split]
    for part in range(1, IMPORT_PARTS):
        offset = own_split(path, IMPORT_SHARE + (1 - IMPORT_SHARE) * part / IMPORT_PARTS)
        if offset is not None and offset > starts[-1]:
            starts.append(offset)
    return list(zip(starts, [*starts[1:], None], strict=True))


def _take_in_halves(conn: sqlite3.Connection, state: _State, runs_in: _DocumentRuns, split: int,
                    after: contextlib.ExitStack) -> None:
    """The runs up to ``split`` here and those after it in a second process, at the same time.

    The second process checks its runs exactly as this one does and writes their rows to files of
    its own, a part of the runs each (`_part_bounds`), telling when each is written; once this
    process has queued its own runs, it copies the parts in, in order, each as soon as it is written
    (SQLite gives each value the staging column's type, as it does to a value sent to it), while the
    second process writes the next. Any problem, on either side, is left to the import in order.
    """
    bounds = _part_bounds(runs_in.path, split)
    parts = [after.enter_context(temporary_beside(state.report.staging)) for _ in bounds]
    runs_in.stop = split
    try:
        with SecondHalf("bakemigrate.importer:_import_second_half", str(runs_in.path), bounds,
                        [str(part) for part in parts], state.resolver.rows, state.now) as second:
            _take_each(state, runs_in)
            if state.errors.total or state.waiting:
                raise _InOrder
            state.batches.flush()
            for index, part in enumerate(parts):
                written = second.said()  # the part is written (the second process goes on with the next)
                _copy_part(conn, index, part, after)
                state.batches.advance(sum(written))
            counts, linked = second.result()
    except (InvalidDocument, SecondHalfFailed):
        raise _InOrder from None
    state.counts = [mine + its for mine, its in zip(state.counts, counts, strict=True)]
    state.linked = state.linked or linked


def _copy_part(conn: sqlite3.Connection, index: int, part: Path, after: contextlib.ExitStack) -> None:
    """The rows of the second process's part ``index`` (the file ``part``) into the staging tables."""
    name = f"part{index}"
    conn.execute(f"ATTACH DATABASE ? AS {name}", (str(part),))
    after.callback(_detach, conn, name)
    for table, columns in v07_columns().items():  # parents first
        names = ", ".join(columns)
        conn.execute(f'INSERT INTO main."{table}" ({names}) SELECT {names} FROM {name}."{table}"')


def _import_second_half(document: str, bounds: list[tuple[int, int | None]], parts: list[str],
                        resolver_rows: dict[str, list[list[Any]]], now: str) -> tuple[list[int], bool]:
    """In the second process: the runs of ``document`` between each pair of ``bounds``, checked as
    the import checks them (``resolver_rows``: the `_Resolver`'s rows), into the file of ``parts``
    beside it, telling the rows written per table as each is done; returns the rows written per
    table in all, and whether the runs link to events.

    Its tables have the columns of the v0.7 ones and no types: every value is kept as it is sent.
    It stops as soon as the process that started it is gone.

    Raises:
        _InOrder: a run has a problem, or needs a new id.
        SystemExit: the first process is gone.
    """
    resolver, counts, linked = _Resolver(resolver_rows), [0, 0, 0], False
    for (start, stop), part in zip(bounds, parts, strict=True):
        part_counts, part_linked = _import_part(document, start, stop, part, resolver, now)
        tell_parent(part_counts)
        counts = [total + more for total, more in zip(counts, part_counts, strict=True)]
        linked = linked or part_linked
    return counts, linked


def _import_part(document: str, start: int, stop: int | None, part: str, resolver: _Resolver,
                 now: str) -> tuple[list[int], bool]:
    """The runs of ``document`` after ``start`` and up to ``stop`` into the file ``part`` (see
    `_import_second_half`): the rows written per table, and whether the runs link to events."""
    runs_in = _DocumentRuns(Path(document), trusted=True)
    runs_in.fingerprinted, runs_in.start, runs_in.stop = False, start, stop
    conn = sqlite3.connect(part, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # a scratch file, removed once the import ends
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for table, columns in v07_columns().items():
            names = ", ".join(columns)
            conn.execute(f'CREATE TABLE "{table}" ({names})')
        report = ImportReport(path=Path(document), staging=Path(part), version=runs_in.version)
        state = _State(batches=_Batches(conn, lambda rows: stop_if_parent_gone(), BATCH_ROWS), claims=_OwnClaims(),
                       max_used=0, report=report, resolver=resolver, now=now, trusted=True)
        _take_each(state, runs_in)
        if state.errors.total or state.waiting:
            raise _InOrder
        state.batches.flush()
        conn.execute("COMMIT")
    finally:
        conn.close()
    return state.counts, state.linked


@dataclass
class _State:
    """What the import carries from one chunk of runs to the next."""

    batches: _Batches
    claims: _Claims
    max_used: int
    report: ImportReport
    resolver: _Resolver
    now: str
    trusted: bool
    # Runs that need a new id wait until every id of the document is known (new ids follow them all).
    waiting: list[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]] = field(default_factory=list)
    errors: ProblemList = field(default_factory=ProblemList)
    repeats: int = 0
    first_repeat: str = ""
    counts: list[int] = field(default_factory=lambda: [0, 0, 0])
    linked: bool = False


def _take_chunk(state: _State, chunk: list[tuple[int, dict[str, Any], bytes]]) -> None:
    """Check and queue the runs of ``chunk``, in document order, against everything claimed before them."""
    if not chunk:
        return
    claims = state.claims
    claims.lookup(chunk)
    for index, item, fingerprint in chunk:
        _take_run(state, index, item, fingerprint)
    claims.store()


def _take_run(state: _State, index: int, item: dict[str, Any], fingerprint: bytes) -> None:
    """Check one run: skipped, refused (an error noted) or queued for insertion."""
    claims, report, resolver, now, trusted = state.claims, state.report, state.resolver, state.now, state.trusted
    where = f"production_runs[{index}]"
    run_id = item.get("id")
    if isinstance(run_id, int):
        state.max_used = max(state.max_used, run_id)
    if "event_uuid" in item or "id" in item:
        state.linked = True
    uuid = item["uuid"]
    earlier = claims.runs.get(uuid)
    if earlier is not None and earlier[0] is not None:  # the same run twice: skipped when identical, else a conflict
        if earlier[1] == fingerprint:
            if not state.repeats:
                state.first_repeat = f"{where} is production_runs[{earlier[0]}], uuid {uuid}"
            state.repeats += 1
            report.skipped.append(uuid)
        else:
            state.errors.note([f"{where} and production_runs[{earlier[0]}] have the same uuid {uuid} but "
                               "different content (which one is right cannot be told)"])
        return
    claims.runs[uuid] = (index, fingerprint)
    if earlier is not None:  # already in the database
        report.skipped.append(uuid)
        return
    broken = recorded_loss_problems(item)
    if broken:
        state.errors.note([f"{where} ({uuid}): breaks bake-tracker 0.7's rules: {'; '.join(broken)}"])
        return
    try:
        recipe_id = resolver.resolve("recipes", item.get("recipe_uuid"), item["recipe_name"], "recipe")
        unit_id = resolver.resolve(
            "finished_units", item.get("finished_unit_uuid"), item["finished_unit_slug"], "finished unit"
        )
        event_id = None
        if item.get("event_uuid") is not None:
            event_id = resolver.resolve("events", item["event_uuid"], item.get("event_name"), "event")
        new_id = run_id is None or run_id in claims.ids
        if not new_id:
            claims.ids.add(run_id)
        created, updated = _timestamps(item, now, where, trusted)
        run = (
            recipe_id, unit_id, event_id, item["num_batches"], item["expected_yield"], item["actual_yield"],
            db_datetime_from_iso(item["produced_at"], where, "produced_at", trusted), item["notes"],
            item.get("production_status", "complete"), item.get("loss_quantity", 0),
            *_numbers(item, _RUN_NUMBERS, where, trusted), run_id, item["uuid"], created, updated,
        )
        consumptions = []
        for j, c in enumerate(item["consumptions"]):
            cwhere = f"{where}.consumptions[{j}]"
            c_created, c_updated = _new_child(c, claims.children, now, cwhere, trusted)
            quantity, cost = _numbers(c, _CONSUMPTION_NUMBERS, cwhere, trusted)
            consumptions.append((
                run_id, c["ingredient_slug"], quantity, c["unit"], cost, c.get("id"), c["uuid"], c_created,
                c_updated,
            ))
        losses = []
        for j, loss in enumerate(item.get("losses", [])):
            lwhere = f"{where}.losses[{j}]"
            l_created, l_updated = _new_child(loss, claims.children, now, lwhere, trusted)
            losses.append((
                run_id, unit_id, loss["loss_category"], loss["loss_quantity"], loss.get("notes"),
                *_numbers(loss, _LOSS_NUMBERS, lwhere, trusted), loss.get("id"), loss["uuid"], l_created, l_updated,
            ))
    except InvalidDocument as exc:
        state.errors.note([f"{where} ({item['uuid']}): {exc}"])
        return
    if new_id:
        state.waiting.append((run, consumptions, losses))
        return
    _add_run(state.batches, run, consumptions, losses, state.counts)


def _drop_indexes(conn: sqlite3.Connection) -> list[str]:
    """Drop the indexes of the production tables; return their ``CREATE INDEX`` statements."""
    names = ", ".join(f"'{t}'" for t in PRODUCTION_TABLES_V07)
    found = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({names})"
    ).fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def _drop_triggers(conn: sqlite3.Connection) -> list[str]:
    """Drop the triggers on the production tables; return their ``CREATE TRIGGER`` statements, in order."""
    names = ", ".join(f"'{t}'" for t in PRODUCTION_TABLES_V07)
    found = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({names}) ORDER BY rowid"
    ).fetchall()
    for name, _ in found:
        conn.execute(f'DROP TRIGGER "{name}"')
    return [sql for _, sql in found]


def _add_run(batches: _Batches, run, consumptions, losses, counts: list[int]) -> None:
    batches.add("production_runs", run)
    batches.extend("production_consumptions", consumptions)
    batches.extend("production_losses", losses)
    counts[0] += 1
    counts[1] += len(consumptions)
    counts[2] += len(losses)
