"""Step 6, verify: prove the staging database holds everything the original held, as v0.7.

The checks, each a row of `VerifyResult.checks`:

- the staging database passes ``integrity_check`` and ``foreign_key_check``;
- its production tables are exactly the ones bake-tracker v0.7 creates, with the original's own
  indexes and triggers on them; every other object of ``sqlite_master`` is the original's, word for word;
- every table has as many rows as before; every table other than the production ones is identical,
  row for row;
- every field of every run and consumption is the very value the original stores (ids, links,
  timestamps to the microsecond, NUMERIC values to the last digit: the same SQLite ``typeof`` and
  ``quote``), and equals the before-document (the export taken from the original);
- statuses and losses are what the migration policy says: ``complete`` / 0 with no loss row, or
  with inferred losses, field by field what bake-tracker 0.7's rules give
  ([check_database][bakemigrate.loss_rules.check_database]).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .db import (
    DatabaseInfo,
    inspect_database,
    integrity_check_side_by_side,
    open_database,
    open_inspected,
    refuse_unexportable_values,
)
from .errors import DatabaseRefused, InvalidDocument
from .exporter import iter_runs, run_in_export_order
from .formats import DocumentKind, ProblemList, encode_run, run_problems, validate_document
from .halves import SecondHalf, SecondHalfFailed, stop_if_parent_gone
from .jsonio import load_json
from .jsonstream import RunStream, own_runs_before, own_runs_with_text, own_split
from .loss_rules import RuleCheck, check_database, shortfall_summary
from .schema_objects import kept_objects, production_user_objects, refers_to_production
from .spill import SpilledRows
from .tables import PRODUCTION_TABLES_V07, table_columns, user_tables, v07_ddl
from .values import db_number_to_text

if TYPE_CHECKING:
    import pandas as pd

MAX_MISMATCHES = 1000
RUN_NUMERIC = {"total_ingredient_cost": 4, "per_unit_cost": 4}
CONSUMPTION_NUMERIC = {"quantity_consumed": 3, "total_cost": 4}


FIELD_COLUMNS = ["table", "column", "compared", "equal", "different"]
MISMATCH_COLUMNS = ["table", "column", "key", "before", "after"]


@dataclass
class Rows:
    """A small table as plain rows (one dict each): pandas is loaded only when a DataFrame is asked for."""

    columns: list[str]
    data: list[dict[str, Any]] = field(default_factory=list)
    objects: bool = False
    """True when every value stays as given in the DataFrame (``dtype=object``)."""

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.data)

    def __add__(self, other: Rows) -> Rows:
        return Rows(self.columns, self.data + other.data, self.objects or other.objects)

    def total(self, column: str) -> int:
        """The sum of ``column``."""
        return sum(int(row[column]) for row in self.data)

    def frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.data, columns=self.columns, dtype=object if self.objects else None)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Rows:
        """The rows of a DataFrame."""
        return cls(list(frame.columns), frame.to_dict("records"))


_TABLES = ("checks", "summary", "fields", "mismatches", "status_mix", "shortfalls")


class VerifyResult:
    """The verdict and the tables that support it (pandas DataFrames, made when first read; the
    command line reads the same tables as `rows` without loading pandas)."""

    def __init__(
        self,
        passed: bool,
        checks: pd.DataFrame | Rows,
        summary: pd.DataFrame | Rows,
        fields: pd.DataFrame | Rows,
        mismatches: pd.DataFrame | Rows,
        status_mix: pd.DataFrame | Rows,
        shortfalls: pd.DataFrame | Rows,
        infer_losses: bool = False,
        shortfall_runs: int = 0,
        shortfall_items: int = 0,
        shortfall_made_nothing: int = 0,
    ) -> None:
        self.passed = passed
        """True when every check passed."""
        self.infer_losses = infer_losses
        """True when the shortfalls were recorded as losses (the rules of 0.7 were checked)."""
        self.shortfall_runs = shortfall_runs
        """How many runs made fewer items than expected (all of them, not only those in `shortfalls`)."""
        self.shortfall_items = shortfall_items
        """The items those runs did not make."""
        self.shortfall_made_nothing = shortfall_made_nothing
        """How many of them made no item at all."""
        self._tables: dict[str, Any] = {"checks": checks, "summary": summary, "fields": fields,
                                        "mismatches": mismatches, "status_mix": status_mix,
                                        "shortfalls": shortfalls}

    def rows(self, name: str) -> Rows:
        """The table ``name`` (one of checks, summary, fields, mismatches, status_mix, shortfalls) as `Rows`."""
        table = self._tables[name]
        return table if isinstance(table, Rows) else Rows.of(table)

    def _frame(self, name: str) -> pd.DataFrame:
        table = self._tables[name]
        if isinstance(table, Rows):
            table = self._tables[name] = table.frame()
        return table

    @property
    def checks(self) -> pd.DataFrame:
        """One row per check: its name, whether it passed, its figure."""
        return self._frame("checks")

    @property
    def summary(self) -> pd.DataFrame:
        """Rows per table, before and after."""
        return self._frame("summary")

    @property
    def fields(self) -> pd.DataFrame:
        """Per column of the production tables and of the document: values compared, equal, different."""
        return self._frame("fields")

    @property
    def mismatches(self) -> pd.DataFrame:
        """The first values that differ, per column."""
        return self._frame("mismatches")

    @property
    def status_mix(self) -> pd.DataFrame:
        """Runs and units lost per status in the staging database."""
        return self._frame("status_mix")

    @property
    def shortfalls(self) -> pd.DataFrame:
        """The runs that made fewer items than expected, oldest first: the `MAX_MISMATCHES` oldest of them."""
        return self._frame("shortfalls")

    @property
    def verdict(self) -> str:
        """``PASS`` or ``FAIL``."""
        return "PASS" if self.passed else "FAIL"

    def summary_table(self) -> str:
        """The rows-per-table table and the checks, as text for a terminal."""
        return (
            self.summary.to_string(index=False)
            + "\n\n"
            + self.checks.to_string(index=False)
        )

    def shortfall_summary(self) -> str:
        """The runs that made fewer items than expected and what became of them, in plain words."""
        return shortfall_summary(self.shortfall_runs, self.shortfall_items, self.shortfall_made_nothing,
                                 infer_losses=self.infer_losses)

    def summary_line(self) -> str:
        """One line for the terminal."""
        checks = self.rows("checks")
        failed = [row["check"] for row in checks if not row["passed"]]
        compared = self.rows("fields").total("compared")
        if self.passed:
            return f"verify: PASS ({len(checks)} checks, {compared:,} field values compared, all equal)"
        return f"verify: FAIL ({', '.join(failed)}); the original is untouched"


def _schema_differences(conn: sqlite3.Connection) -> tuple[list[str], int]:
    """What differs from the schema the migration promises, by object name, and how many own objects were kept.

    With the original attached as ``original``: the production tables and their indexes are exactly
    bake-tracker v0.7's, plus the original's own indexes and triggers on them; every other object of
    ``sqlite_master`` (tables, indexes, views, triggers) has the same type, name, table and SQL as in
    the original.
    """
    own = production_user_objects(conn, "original")
    actual = {
        name: (sql or "").strip()
        for name, sql in conn.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE tbl_name IN (?, ?, ?)", PRODUCTION_TABLES_V07
        )
    }
    expected = {**v07_ddl(), **{obj.name: (obj.sql or "").strip() for obj in own}}
    differ = {n for n in set(actual) | set(expected) if actual.get(n) != expected.get(n)}
    before, after = set(kept_objects(conn, "original")), set(kept_objects(conn, "main"))
    differ |= {obj.name for obj in before ^ after}
    referring = sum(1 for obj in before if obj.type != "table" and refers_to_production(obj))
    return sorted(differ), referring


def _empty_mismatches() -> Rows:
    return Rows(MISMATCH_COLUMNS, objects=True)


@dataclass
class _DatabaseFacts:
    """What the SQL side of the verification found (see `_compare_databases`)."""

    integrity: str
    broken_references: int
    schema_differences: list[str]
    own_objects: int
    before_counts: dict[str, int]
    after_counts: dict[str, int]
    fields: Rows
    mismatches: Rows
    changed_tables: list[str]
    untouched_tables: list[str]
    status_mix: Rows


def _compare_databases(db: str | os.PathLike[str], staging: str | os.PathLike[str]) -> _DatabaseFacts:
    """Every check made inside SQLite: integrity, references, schema, counts, fields, other tables.

    The integrity check runs beside the comparisons, on connections of its own (SQLite works without
    the GIL): the cores are kept busy to the end, whichever part takes longer.
    """
    with ThreadPoolExecutor(max_workers=1) as pool, open_database(staging) as conn:
        checked = pool.submit(integrity_check_side_by_side, staging)
        broken = len(conn.execute("PRAGMA foreign_key_check").fetchall())
        after_counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in user_tables(conn)}
        conn.execute("ATTACH DATABASE ? AS original", (str(Path(db)),))
        schema_diff, own_objects = _schema_differences(conn)
        before_counts = {
            t: conn.execute(f'SELECT count(*) FROM original."{t}"').fetchone()[0]
            for t in user_tables(conn, "original")
        }
        f1, m1 = _compared_rows(conn, "production_runs", RUN_NUMERIC, exact=True)
        f2, m2 = _compared_rows(conn, "production_consumptions", CONSUMPTION_NUMERIC, exact=True)
        untouched = sorted(set(before_counts) - set(PRODUCTION_TABLES_V07))
        changed = _changed_tables(conn, untouched)
        conn.execute("DETACH DATABASE original")
        status_mix = _status_mix(conn)
        integrity = checked.result()
    return _DatabaseFacts(
        integrity=integrity, broken_references=broken, schema_differences=schema_diff, own_objects=own_objects,
        before_counts=before_counts, after_counts=after_counts,
        fields=f1 + f2, mismatches=m1 + m2,
        changed_tables=changed, untouched_tables=untouched,
        status_mix=status_mix,
    )


def verify(
    db: str | os.PathLike[str],
    staging: str | os.PathLike[str],
    before: str | os.PathLike[str],
    *,
    expected: str | os.PathLike[str] | None = None,
    trusted: bool = False,
    infer_losses: bool | None = None,
) -> VerifyResult:
    """Compare ``staging`` (v0.7) with the original ``db`` (v0.6) and its export ``before``.

    ``expected`` is the transformed (v1.1) document, whose statuses the runs must have.
    ``infer_losses`` says whether the shortfalls were recorded as losses: every run and loss row
    must then be what bake-tracker 0.7's rules give, else every run must be ``complete`` with 0
    losses (None: losses were inferred when ``expected`` records any). ``trusted`` says ``before``
    is bakemigrate's own export of ``db``, proven unchanged since it was written (it is then read
    without the checks meant for foreign files, and not compared with the runs of ``db`` again).
    The tables are compared inside SQLite (in a second thread, while this one compares the document)
    and the documents are read one run at a time, so memory stays flat at any size.
    """
    original = inspect_database(db, integrity=False)
    # The staging database is read on two connections: this one (looked at, then the document and
    # the loss rules compared on it) and the SQL comparison's, in its own thread.
    with open_inspected(staging) as (conn, copy):
        _refuse_wrong_databases(db, staging, original, copy, exported=trusted)
        return _verify_on(conn, db, staging, before, original, expected=expected, trusted=trusted,
                          infer_losses=infer_losses)


def _verify_on(
    conn: sqlite3.Connection,
    db: str | os.PathLike[str],
    staging: str | os.PathLike[str],
    before: str | os.PathLike[str],
    original: DatabaseInfo,
    *,
    expected: str | os.PathLike[str] | None,
    trusted: bool,
    infer_losses: bool | None,
) -> VerifyResult:
    """`verify`, with ``conn`` open on ``staging`` and the pair of databases accepted."""
    runs_before = BeforeRuns(before, trusted=trusted)
    with ThreadPoolExecutor(max_workers=1) as pool:  # SQLite works without the GIL: both cores are used
        in_sqlite = pool.submit(_compare_databases, db, staging)
        try:
            # the staging runs as a v1.0 export: the before-document's fields, without v1.1's statuses and losses
            if trusted:  # bakemigrate's own export: its runs' bytes are those the staging runs export as
                document = _compare_own_document(conn, staging, runs_before)
            else:
                document = _DocumentComparison()
                document.compare(runs_before, iter_runs(conn, "1.0"))
        finally:
            facts = in_sqlite.result()
    try:
        runs_before.refuse_unless_runs_of(db)
    finally:
        runs_before.close()
    checks: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"check": name, "passed": bool(passed), "detail": detail})

    check("integrity", facts.integrity == "ok", f"integrity_check: {facts.integrity}")
    check("references", not facts.broken_references, f"{facts.broken_references} broken references")
    made = (f"production tables as v0.7 makes them; your {facts.own_objects} own objects kept" if facts.own_objects
            else "production tables exactly as v0.7 creates them")
    check("v0.7 schema", not facts.schema_differences, made if not facts.schema_differences
          else f"differs: {', '.join(facts.schema_differences)}")
    want = _ExpectedStatuses(expected) if expected is not None else None
    expected_losses = want.losses if want is not None else 0
    inferred = (want is not None and expected_losses > 0) if infer_losses is None else infer_losses
    rules = check_database(conn, infer_losses=inferred, limit=MAX_MISMATCHES)
    runs_wrong = want.runs_differing(conn) if want is not None else None
    new_losses = expected_losses if expected is not None else rules.loss_rows_expected
    before_counts, after_counts = facts.before_counts, facts.after_counts
    summary = Rows(["table", "before", "after", "equal"])
    for t in sorted(set(before_counts) | set(after_counts)):
        # a v0.6 original has no loss row (0.7 may have added the table, empty)
        rows_before = (new_losses if t == "production_losses" and original.schema_version == "0.6"
                       else before_counts.get(t))
        summary.data.append({"table": t, "before": rows_before, "after": after_counts.get(t),
                             "equal": rows_before is not None and rows_before == after_counts.get(t)})
    equal = sum(1 for row in summary if row["equal"])
    check("row counts", equal == len(summary), f"{equal} of {len(summary)} tables have as many rows as before")
    changed = facts.changed_tables
    check("other tables", not changed,
          f"{len(facts.untouched_tables)} tables identical row for row" if not changed
          else f"differ: {', '.join(changed)}")

    f3, m3 = document.result()
    fields = facts.fields + f3
    mismatches = facts.mismatches + m3 + _rule_mismatches(rules)
    db_fields = facts.fields
    check("every field", db_fields.total("different") == 0,
          f"{db_fields.total('compared'):,} values compared with the original, "
          f"{db_fields.total('different')} differ")
    check("export document", f3.total("different") == 0,
          f"{f3.total('compared'):,} values compared with {Path(before).name}, "
          f"{f3.total('different')} differ")

    policy_ok, policy_detail = _status_policy(rules, runs_wrong, expected_losses)
    check("statuses and losses", policy_ok, policy_detail)
    passed = all(c["passed"] for c in checks)
    return VerifyResult(
        passed=passed,
        checks=Rows(["check", "passed", "detail"], checks),
        summary=summary,
        fields=fields,
        mismatches=mismatches,
        status_mix=facts.status_mix,
        shortfalls=document.shortfalls(),
        infer_losses=inferred,
        shortfall_runs=document.gap_runs,
        shortfall_items=document.gap_items,
        shortfall_made_nothing=document.gap_made_nothing,
    )


def _refuse_wrong_databases(db: str | os.PathLike[str], staging: str | os.PathLike[str], original: DatabaseInfo,
                            copy: DatabaseInfo, *, exported: bool = False) -> None:
    """Refuse a pair that is not an original v0.6 database and its v0.7 copy (`original` and `copy`: their looks).

    ``exported`` says bakemigrate's own export of ``db`` is compared (a trusted verification): its
    values were found exportable when it was written, and are not looked at again.

    Raises:
        DatabaseRefused: the same file twice, an original that is already v0.7 or a copy that is not v0.7.
    """
    if Path(db).resolve() == Path(staging).resolve() or os.path.samefile(db, staging):
        raise DatabaseRefused(
            f"{staging}: is the database {db} itself; verify compares the original with its migrated copy "
            "(STAGING, made by reset and import)"
        )
    if copy.schema_version != "0.7":
        raise DatabaseRefused(
            f"{staging}: is bake-tracker v{copy.schema_version}, not a migrated v0.7 copy; "
            "give the staging copy made by `bakemigrate reset` and `bakemigrate import`"
        )
    if original.schema_version == "0.7":
        raise DatabaseRefused(
            f"{db}: is already bake-tracker v0.7, not the v0.6 original; "
            "give the database as it was before the migration (its backup is in the work folder)"
        )
    if not exported:
        refuse_unexportable_values(db)  # its values are read as the export reads them


class BeforeRuns:
    """The runs of the before-document, checked as they are read: a valid v1.0 export, run by run.

    Iterate once; then `refuse_unless_runs_of` proves the document holds exactly the runs of the
    original database. ``trusted`` says the file is bakemigrate's own export, proven unchanged since
    it was written (read by `own_runs_with_text`, without the schema check).

    Raises:
        InvalidDocument: not JSON, not a production-history export of version 1.0, or a run that
            breaks its JSON Schema (every problem on one line).
    """

    def __init__(self, path: str | os.PathLike[str], *, trusted: bool = False) -> None:
        self.path = Path(path)
        self.trusted = trusted
        self.count = 0
        self._uuids: SpilledRows | None = None
        self._whole: list[Any] | None = None
        self._stream: RunStream | None = None
        if trusted:
            return
        stream = RunStream(self.path)
        if not stream.streamable:  # not an object with a list of runs: the whole document says what it is
            doc = stream.whole()
            self._kind(doc)
            self._whole = doc["production_runs"]
            return
        self._stream = stream
        self._kind({**stream.head, "production_runs": []})

    def _kind(self, doc: Any) -> DocumentKind:
        try:
            kind = validate_document(doc)
        except InvalidDocument as exc:
            raise InvalidDocument(f"{self.path}: {exc}") from None
        if kind is not DocumentKind.HISTORY_V1_0:
            raise InvalidDocument(
                f"{self.path}: a {kind.value}, not the export (1.0) taken from the original database; "
                "give the export_v1.0.json that `bakemigrate export` wrote"
            )
        return kind

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.trusted:  # the export of the very backup compared: it holds its runs, each once
            for text in self.texts():
                yield orjson.loads(text)
            return
        if self._whole is not None:
            runs: Iterable[Any] = self._whole
        else:
            assert self._stream is not None
            runs = self._stream.runs()
        problems = ProblemList()
        self.close()
        self._uuids = uuids = SpilledRows("uuid")
        for index, run in enumerate(runs):
            if self._stream is not None:
                found = run_problems(DocumentKind.HISTORY_V1_0, run, index)
                if found:
                    problems.note(found)
                    continue
            self.count += 1
            uuids.add(run["uuid"])
            yield run
        if self._stream is not None and self._stream.tail:  # keys after the runs: the whole document decides
            self._kind(load_json(self.path))
        problems.refuse(DocumentKind.HISTORY_V1_0, self.path)

    def texts(self) -> Iterator[bytes]:
        """The bytes of each run of a trusted document, as bakemigrate wrote them (not parsed)."""
        assert self.trusted
        for text, _ in own_runs_with_text(self.path, parse=False):
            self.count += 1
            yield text

    def refuse_unless_runs_of(self, db: str | os.PathLike[str]) -> None:
        """Refuse a document whose runs are not the runs of ``db``, each once.

        The uuids met are compared with the database's inside SQLite (memory stays flat). A trusted
        document is the export bakemigrate wrote of that very database (the backup), proven unchanged
        since: it is not compared again.

        Raises:
            InvalidDocument: runs missing from the document, runs the database does not hold, or a
                run the document holds twice.
        """
        if self.trusted:
            return
        if self._uuids is None:
            self._uuids = SpilledRows("uuid")
        with open_database(db) as conn, self._uuids.attached(conn, "document") as table:
            extra, first_extra = conn.execute(
                f"SELECT count(*), min(uuid) FROM (SELECT uuid FROM {table} "
                "EXCEPT SELECT uuid FROM main.production_runs)").fetchone()
            missing, first_missing = conn.execute(
                "SELECT count(*), min(uuid) FROM (SELECT uuid FROM main.production_runs "
                f"EXCEPT SELECT uuid FROM {table})").fetchone()
            distinct = conn.execute(f"SELECT count(*) FROM (SELECT DISTINCT uuid FROM {table})").fetchone()[0]
            if not extra and not missing and self.count == distinct:
                return
            runs_in_db = conn.execute(
                "SELECT count(*) FROM (SELECT DISTINCT uuid FROM main.production_runs)").fetchone()[0]
        problems = []
        if self.count != distinct:
            problems.append(f"{self.count - distinct} runs appear twice")
        if extra:
            problems.append(f"{extra} of its runs are not in the database (first: {first_extra})")
        if missing:
            problems.append(f"{missing} runs of the database are not in it (first: {first_missing})")
        raise InvalidDocument(
            f"{self.path}: not an export of {db} ({self.count:,} runs in the document, {runs_in_db:,} in "
            f"the database): {'; '.join(problems)}; give the export taken from this database"
        )

    def close(self) -> None:
        """Remove the temporary file that holds the uuids met."""
        if self._uuids is not None:
            self._uuids.close()
            self._uuids = None


def compare_tables(
    conn: sqlite3.Connection, table: str, numeric: dict[str, int], key: str = "uuid", *, exact: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare ``table`` of the attached ``original`` with the one of ``main``, inside SQLite (see `_compared_rows`).

    Returns ``(fields, mismatches)`` as DataFrames.
    """
    fields, mismatches = _compared_rows(conn, table, numeric, key, exact=exact)
    return fields.frame(), mismatches.frame()


def _compared_rows(
    conn: sqlite3.Connection, table: str, numeric: dict[str, int], key: str = "uuid", *, exact: bool = False
) -> tuple[Rows, Rows]:
    """Compare ``table`` of the attached ``original`` with the one of ``main``, inside SQLite.

    Rows are matched on ``key``; every column of the original other than ``key`` is compared.
    NUMERIC columns are compared as the app reads them, at the column's scale (Python's rounding,
    applied only where the stored values differ). With ``exact``, every value must instead be the
    very value stored before: the same SQLite type (``typeof``) and the same value (``IS``, byte for
    byte whatever the column's collation); the mismatches then show the ``quote`` of each side.
    Returns ``(fields, mismatches)``: per column how many values were compared, equal and different
    (a row present on one side only counts as different in every column), and the first differing
    values.
    """
    conn.create_function("bakemigrate_number", 2, db_number_to_text, deterministic=True)
    columns = [c for c in table_columns(conn, table, "original") if c != key]
    after_columns = set(table_columns(conn, table))
    b_values = ", ".join(f'b."{c}" AS "b_{c}"' for c in columns)
    a_values = ", ".join((f'a."{c}"' if c in after_columns else "NULL") + f' AS "a_{c}"' for c in columns)
    nulls = ", ".join(f'NULL AS "b_{c}"' for c in columns)
    matched = f"""
        SELECT b."{key}" AS k, a."{key}" IS NOT NULL AS in_after, 1 AS in_before, {b_values}, {a_values}
        FROM original."{table}" AS b LEFT JOIN main."{table}" AS a ON a."{key}" = b."{key}"
    """
    pairs = f"""{matched}
        UNION ALL
        SELECT a."{key}", 1, 0, {nulls}, {a_values}
        FROM main."{table}" AS a
        WHERE NOT EXISTS (SELECT 1 FROM original."{table}" AS o WHERE o."{key}" = a."{key}")
    """

    def shown(side: str, c: str) -> str:
        if exact:
            return f'quote("{side}_{c}")'
        return f'bakemigrate_number("{side}_{c}", {numeric[c]})' if c in numeric else f'"{side}_{c}"'

    def same_at_scale(c: str) -> str:
        # Proven equal without leaving SQLite: "a" (a small number) lies on the column's grid and
        # "b" is closer to it than half a step minus a margin, so both round to that grid point.
        # Any other pair is decided by Python's own formatting.
        unit, a, b = 10 ** numeric[c], f'"a_{c}"', f'"b_{c}"'
        numbers = " AND ".join(
            [*(f"typeof({v}) IN ('real', 'integer')" for v in (a, b)), f"abs({a}) < 1e6",
             f"abs({b} - {a}) <= {0.49 / unit!r}", f"abs({a} * {unit} - round({a} * {unit})) < 1e-3"]
        )
        # -0.0000 and 0.0000 are the same value: the texts are compared as numbers
        return f"WHEN {numbers} THEN 0 WHEN CAST({shown('b', c)} AS REAL) IS CAST({shown('a', c)} AS REAL) THEN 0 "

    def differs(c: str) -> str:
        if exact:
            b, a = f'"b_{c}"', f'"a_{c}"'
            # IS makes no text (quote() did, for every value) and tells apart texts that differ
            # after a NUL, which quote() cuts off; -0.0 IS 0.0, as quote() finds them equal too
            return (f"(CASE WHEN NOT (in_after AND in_before) THEN 1 "
                    f"WHEN typeof({b}) = typeof({a}) AND {b} IS {a} COLLATE BINARY THEN 0 ELSE 1 END)")
        numbers = same_at_scale(c) if c in numeric else ""
        return (f'(CASE WHEN NOT (in_after AND in_before) THEN 1 WHEN "b_{c}" IS "a_{c}" THEN 0 '
                f"{numbers}ELSE 1 END)")

    sums = ", ".join(f"sum({differs(c)})" for c in columns) or "0"
    after_rows = conn.execute(f'SELECT count(*) FROM main."{table}"').fetchone()[0]
    row = _paired_by_rowid(conn, table, key, b_values, a_values, sums, after_rows)
    if row is None:
        sql = f"SELECT count(*), sum(in_after), {sums} FROM ({matched})"
        row = conn.execute(sql).fetchone()
    if after_rows != (row[1] or 0):
        # rows only in main (or repeated keys): the second half of the pairs is needed (else it is empty)
        sql = f"SELECT count(*), sum(in_after), {sums} FROM ({pairs})"
        row = conn.execute(sql).fetchone()
    compared, counts = row[0], [int(v or 0) for v in row[2:]]
    fields = Rows(FIELD_COLUMNS, [{"table": table, "column": c, "compared": compared, "equal": compared - n,
                                   "different": n} for c, n in zip(columns, counts, strict=False)])
    bad = _empty_mismatches()
    for c, n in zip(columns, counts, strict=False):
        if n:
            sql = (
                f"SELECT k, CASE WHEN in_before THEN {shown('b', c)} END, "
                f"CASE WHEN in_after THEN {shown('a', c)} END "
                f"FROM ({pairs}) WHERE {differs(c)} LIMIT {MAX_MISMATCHES}"
            )
            bad.data += [{"table": table, "column": c, "key": k, "before": b, "after": a}
                         for k, b, a in conn.execute(sql).fetchall()]
    return fields, bad


def _paired_by_rowid(conn: sqlite3.Connection, table: str, key: str, b_values: str, a_values: str, sums: str,
                     after_rows: int) -> tuple[Any, ...] | None:
    """`_compared_rows`'s counts with the rows paired by rowid, when that pairs them as ``key`` does.

    A rowid is found at once, a ``key`` through its index: twice as fast. The pairing is the same
    when the row of the same rowid holds the same ``key`` for every row of the original, both tables
    hold as many rows, and ``key`` is unique in ``main`` under the collation its ``=`` uses (the
    table and its unique index exactly as v0.7 creates them). Otherwise None: pair by ``key``.
    """
    ddl, made = v07_ddl(), dict(conn.execute(
        "SELECT name, sql FROM main.sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)).fetchall())
    unique = f"CREATE UNIQUE INDEX ix_{table}_{key} ON {table} ({key})"
    if table not in ddl or made.get(table, "").strip() != ddl[table] or unique not in made.values():
        return None
    sql = f"""
        SELECT count(*), sum(in_after), sum(same_key), {sums} FROM (
            SELECT a.rowid IS NOT NULL AS in_after, 1 AS in_before, a."{key}" = b."{key}" IS 1 AS same_key,
                   {b_values}, {a_values}
            FROM original."{table}" AS b LEFT JOIN main."{table}" AS a ON a.rowid = b.rowid)
    """
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.OperationalError:  # an original table without rowids
        return None
    if not row[0] == row[2] == after_rows:
        return None
    return row[:2] + row[3:]


_MISSING = object()
_RUN_SKIP = ("uuid", "consumptions", "losses")


class _FieldTally:
    """Per-column counts of values compared and different, with the first differing values."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.rows = 0
        self.columns: dict[str, None] = {}
        self.different: dict[str, int] = {}
        self.absent_different: dict[str, int] = {}
        self.mismatches: dict[str, list[tuple[Any, Any, Any]]] = {}
        self._last_keys: Any = None

    def _differ(self, counts: dict[str, int], column: str, key: Any, before: Any, after: Any) -> None:
        counts[column] = counts.get(column, 0) + 1
        shown = self.mismatches.setdefault(column, [])
        if len(shown) < MAX_MISMATCHES:
            shown.append((key, before, after))

    def pair(self, key: Any, before: dict[str, Any] | None, after: dict[str, Any] | None, skip: tuple) -> None:
        """Count one matched row (or a row on one side only, the other being None)."""
        self.rows += 1
        if before is not None:
            for column in before:
                if column not in skip:
                    self.columns.setdefault(column)
        for column in {*(after or ()), *(before or ())}:
            if column in skip:
                continue
            b = _MISSING if before is None else before.get(column, _MISSING)
            a = _MISSING if after is None else after.get(column, _MISSING)
            b_value, a_value = (None if b is _MISSING else b), (None if a is _MISSING else a)
            if before is None or after is None:
                self._differ(self.different, column, key, b_value, a_value)
            elif b is _MISSING:  # counts only if another row of the document has the column
                if a is not None:
                    self._differ(self.absent_different, column, key, None, a_value)
            elif b != a:
                self._differ(self.different, column, key, b_value, a_value)

    def equal_rows(self, count: int, row: dict[str, Any], skip: tuple) -> None:
        """Count ``count`` rows shaped like ``row`` found equal in every column."""
        self.rows += count
        if row.keys() != self._last_keys:  # rows of a document nearly always share their keys
            self._last_keys = row.keys()
            for column in row:
                if column not in skip:
                    self.columns.setdefault(column)

    def frames(self) -> tuple[Rows, Rows]:
        """``(fields, mismatches)`` for the columns the document has."""
        fields, bad = Rows(FIELD_COLUMNS), _empty_mismatches()
        for column in self.columns:
            n = self.different.get(column, 0) + self.absent_different.get(column, 0)
            fields.data.append({"table": self.table, "column": column, "compared": self.rows,
                                "equal": self.rows - n, "different": n})
            if n:
                bad.data += [{"table": self.table, "column": column, "key": k, "before": b, "after": a}
                             for k, b, a in self.mismatches[column][:MAX_MISMATCHES]]
        return fields, bad


class _DocumentComparison:
    """The before-document against the staging database's own export, run by run, in step."""

    def __init__(self) -> None:
        self.runs = _FieldTally("document: runs")
        self.consumptions = _FieldTally("document: consumptions")
        self.pending_runs: tuple[dict[Any, Any], dict[Any, Any]] = ({}, {})
        self.pending_cons: tuple[dict[Any, Any], dict[Any, Any]] = ({}, {})
        self.gap_runs = self.gap_items = self.gap_made_nothing = 0
        self._gap_examples: list[dict[str, Any]] = []
        self.documented = False

    def compare(self, before: Iterable[dict[str, Any]], after: Iterable[dict[str, Any]]) -> None:
        """Walk both run sequences (in the same order when nothing is lost); match the rest by uuid."""
        for b, a in zip_longest(before, after):
            self._step(b, a)

    def compare_own(self, before: Iterable[bytes], after: Iterable[dict[str, Any]]) -> None:
        """`compare`, ``before`` being the bytes of the runs of bakemigrate's own export: a run written
        as the staging run's own export writes it (the same encoder, the same place) is equal in
        every field, without being parsed; any other is parsed and compared field by field."""
        for index, (text, a) in enumerate(zip_longest(before, after)):
            if text is None or a is None or not self._same_bytes(text, a, index):
                self._step(orjson.loads(text) if text is not None else None, a)

    def equal_own(self, before: Iterable[bytes], after: Iterator[dict[str, Any]], start: int = 0) -> int | None:
        """`compare_own` while every run of ``before`` (the runs from index ``start`` on) is the next
        run of ``after`` byte for byte: how many were, or None at the first that is not (the
        comparison is then to be made again with `compare_own`)."""
        count = 0
        for index, text in enumerate(before, start):
            a = next(after, None)
            if a is None or not self._same_bytes(text, a, index):
                return None
            count += 1
            if count % 1000 == 0:
                stop_if_parent_gone()
        return count

    def _same_bytes(self, text: bytes, run: dict[str, Any], index: int) -> bool:
        """Whether ``text`` is the bytes of ``run`` exported at ``index``; counted as equal if it is."""
        if text != encode_run(run, index, numbers_checked=True)[4:]:
            return False
        self.documented = True
        self._note_gap(run)
        self._equal(run)
        return True

    def tallies(self) -> dict[str, Any]:
        """What `merge` adds to another comparison of the runs this one found equal (JSON values)."""
        self._keep_oldest_gaps()
        return {"runs": [self.runs.rows, list(self.runs.columns)],
                "consumptions": [self.consumptions.rows, list(self.consumptions.columns)],
                "gaps": [self.gap_runs, self.gap_items, self.gap_made_nothing, self._gap_examples],
                "documented": self.documented}

    def merge(self, tallies: dict[str, Any]) -> None:
        """Add the `tallies` of the runs that follow this comparison's, all equal: as if compared here."""
        for tally, (rows, columns) in ((self.runs, tallies["runs"]), (self.consumptions, tallies["consumptions"])):
            tally.rows += rows
            for column in columns:
                tally.columns.setdefault(column)
        runs, items, made_nothing, examples = tallies["gaps"]
        self.gap_runs, self.gap_items = self.gap_runs + runs, self.gap_items + items
        self.gap_made_nothing += made_nothing
        self._gap_examples += examples  # after this side's in the document: ties keep that order
        self._keep_oldest_gaps()
        self.documented = self.documented or tallies["documented"]

    def _step(self, b: dict[str, Any] | None, a: dict[str, Any] | None) -> None:
        """The next run of each side (None: that side has no more), paired, or kept until its match comes."""
        if b is not None:
            self.documented = True
            self._note_gap(b)
        if b is not None and a is not None and b.get("uuid") == a.get("uuid"):
            self._pair(b, a)
            return
        for side, run in ((0, b), (1, a)):
            if run is None:
                continue
            other = self.pending_runs[1 - side].pop(run.get("uuid"), None)
            if other is None:
                self.pending_runs[side][run.get("uuid")] = run
            else:
                self._pair(*((run, other) if side == 0 else (other, run)))

    def _equal(self, run: dict[str, Any]) -> None:
        """Count ``run``, found equal on both sides, and its consumptions."""
        self.runs.equal_rows(1, run, _RUN_SKIP)
        children = run.get("consumptions", [])
        if children:
            if self.consumptions.rows == 0:
                self.consumptions.columns.setdefault("run_uuid")
            self.consumptions.equal_rows(len(children), children[0], ("uuid",))

    def _pair(self, b: dict[str, Any], a: dict[str, Any]) -> None:
        if b == a:  # the usual case: every field and every consumption equal
            self._equal(b)
            return
        self.runs.pair(b.get("uuid"), b, a, _RUN_SKIP)
        self._children(b, 0)
        self._children(a, 1)

    def _children(self, run: dict[str, Any], side: int) -> None:
        for child in run.get("consumptions", []):
            row = {"run_uuid": run.get("uuid"), **child}
            other = self.pending_cons[1 - side].pop(child.get("uuid"), None)
            if other is None:
                self.pending_cons[side][child.get("uuid")] = row
            else:
                b, a = (row, other) if side == 0 else (other, row)
                self.consumptions.pair(b.get("uuid"), b, a, ("uuid",))

    def result(self) -> tuple[Rows, Rows]:
        """``(fields, mismatches)`` for the runs and consumptions of the document."""
        if not self.documented and not self.pending_runs[1]:
            return Rows(FIELD_COLUMNS), _empty_mismatches()
        for uuid, run in self.pending_runs[0].items():
            self.runs.pair(uuid, run, None, _RUN_SKIP)
            self._children(run, 0)
        for uuid, run in self.pending_runs[1].items():
            self.runs.pair(uuid, None, run, _RUN_SKIP)
            self._children(run, 1)
        for uuid, row in self.pending_cons[0].items():
            self.consumptions.pair(uuid, row, None, ("uuid",))
        for uuid, row in self.pending_cons[1].items():
            self.consumptions.pair(uuid, None, row, ("uuid",))
        self.pending_runs = self.pending_cons = ({}, {})
        f1, m1 = self.runs.frames()
        if not self.consumptions.rows:
            return f1, m1
        f2, m2 = self.consumptions.frames()
        return f1 + f2, m1 + m2

    def _note_gap(self, run: dict[str, Any]) -> None:
        expected, actual = run.get("expected_yield"), run.get("actual_yield")
        if isinstance(expected, int) and isinstance(actual, int) and expected - actual > 0:
            self.gap_runs += 1
            self.gap_items += expected - actual
            self.gap_made_nothing += actual == 0
            self._gap_examples.append({"uuid": run.get("uuid"), "recipe_name": run.get("recipe_name"),
                                       "produced_at": run.get("produced_at"), "expected_yield": expected,
                                       "actual_yield": actual, "unaccounted": expected - actual})
            if len(self._gap_examples) >= 2 * MAX_MISMATCHES:
                self._keep_oldest_gaps()

    def _keep_oldest_gaps(self) -> None:
        """Keep the `MAX_MISMATCHES` oldest shortfalls, oldest first (ties in the document's order)."""
        self._gap_examples.sort(key=lambda gap: (gap["produced_at"] is None, str(gap["produced_at"])))
        del self._gap_examples[MAX_MISMATCHES:]

    def shortfalls(self) -> Rows:
        """The oldest `MAX_MISMATCHES` runs of the document that made fewer items than expected, oldest first."""
        self._keep_oldest_gaps()
        columns = ["uuid", "recipe_name", "produced_at", "expected_yield", "actual_yield", "unaccounted"]
        return Rows(columns, self._gap_examples)


HALVES_BYTES = 8 << 20
"""A trusted before-document this large (about 3,000 runs) is compared by two processes, half the
runs each (`_compare_own_document`)."""


def _compare_own_document(conn: sqlite3.Connection, staging: str | os.PathLike[str],
                          runs_before: BeforeRuns) -> _DocumentComparison:
    """The trusted before-document compared with the staging runs (`_DocumentComparison.compare_own`).

    A large one is compared by two processes at once, the runs up to its middle here and the others
    in a second process (`_compare_second_half`), when every run of both halves is the staging run's
    bytes. Any other outcome (a run that differs, no second process) is compared again in order,
    so that what differs is counted and shown as always.
    """
    path = runs_before.path
    split = own_split(path) if path.stat().st_size >= HALVES_BYTES else None
    if split is not None:
        first = _DocumentComparison()
        with SecondHalf("bakemigrate.verify:_compare_second_half", str(staging), str(path), split) as second:
            mine = first.equal_own((text for text, _ in own_runs_with_text(path, stop=split, parse=False)),
                                   iter_runs(conn, "1.0"))
            try:
                theirs = second.result() if mine is not None else None
            except SecondHalfFailed:
                theirs = None
        if theirs is not None and theirs["before"] == mine:
            first.merge(theirs)
            return first
    document = _DocumentComparison()
    document.compare_own(runs_before.texts(), iter_runs(conn, "1.0"))
    return document


def _compare_second_half(staging: str, document: str, start: int) -> dict[str, Any] | None:
    """In the second process: the runs of ``document`` after ``start`` against the staging runs from
    the same place of the export's order, byte for byte. Returns the `_DocumentComparison.tallies`
    and ``before``, the number of runs before ``start``; None at the first run that differs, or when
    the staging runs have no such place (a run without a date). Stops when the first process is gone.
    """
    before = own_runs_before(document, start)
    with open_database(staging) as conn:
        key = run_in_export_order(conn, before)
        if key is None:
            return None
        comparison = _DocumentComparison()
        runs = iter_runs(conn, "1.0", half=(True, *key))
        texts = (text for text, _ in own_runs_with_text(document, start=start, parse=False))
        if comparison.equal_own(texts, runs, before) is None or next(runs, None) is not None:
            return None
    return {"before": before, **comparison.tallies()}


def _status_mix(conn: sqlite3.Connection) -> Rows:
    """The mix of statuses of the staging runs."""
    columns = ["production_status", "runs", "units_lost"]
    return Rows(columns, [dict(zip(columns, row, strict=True)) for row in conn.execute(
        "SELECT production_status, count(*), sum(loss_quantity) FROM production_runs "
        "GROUP BY production_status ORDER BY production_status")])


class _ExpectedStatuses:
    """Each run's status and loss in the transformed document (kept in a temporary SQLite file),
    and its number of loss rows."""

    def __init__(self, expected: str | os.PathLike[str]) -> None:
        self.losses = 0
        self._runs = SpilledRows("uuid", "production_status", "loss_quantity")
        try:
            for run in RunStream(expected).runs():
                self._runs.add(run["uuid"], run["production_status"], run["loss_quantity"])
                self.losses += len(run.get("losses", []))
        except BaseException:
            self._runs.close()
            raise

    def runs_differing(self, conn: sqlite3.Connection) -> int:
        """How many runs of the document the staging database (``conn``) does not hold with that status and loss."""
        try:
            with self._runs.attached(conn, "expected") as table:
                return conn.execute(
                    f"SELECT count(*) FROM (SELECT uuid, production_status, loss_quantity FROM {table} EXCEPT "
                    "SELECT uuid, production_status, CAST(loss_quantity AS INTEGER) FROM main.production_runs)"
                ).fetchone()[0]
        finally:
            self._runs.close()


def _status_policy(rules: RuleCheck, wrong: int | None, expected_losses: int) -> tuple[bool, str]:
    """The rules field by field and, with inferred losses, the transformed document's statuses
    (``wrong``: how many runs differ from it, None without that document)."""
    if wrong is None:
        return not rules.differences, rules.detail()
    detail = rules.detail()
    if wrong or rules.loss_rows_expected != expected_losses:
        detail += f"; {wrong} runs differ from the transformed document ({expected_losses} loss rows)"
    return not rules.differences and not wrong and rules.loss_rows_expected == expected_losses, detail


def _rule_mismatches(rules: RuleCheck) -> Rows:
    """The values that differ from the loss rules, in the shape of the other mismatches."""
    return Rows(MISMATCH_COLUMNS, [{"table": f"rules: {table}", "column": column, "key": key, "before": b, "after": a}
                                   for table, column, key, b, a in rules.mismatches], objects=True)


def _changed_tables(conn: sqlite3.Connection, tables: list[str]) -> list[str]:
    """Those of ``tables`` whose rows differ between the attached ``original`` and ``main``."""
    changed = []
    for table in tables:
        for first, second in (("original", "main"), ("main", "original")):
            extra = conn.execute(
                f'SELECT count(*) FROM (SELECT * FROM {first}."{table}" EXCEPT SELECT * FROM {second}."{table}")'
            ).fetchone()[0]
            if extra:
                changed.append(table)
                break
    return changed
