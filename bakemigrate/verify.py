"""Step 6, verify: prove the staging database holds everything the original held, as v0.7.

The checks, each a row of :attr:`VerifyResult.checks`:

- the staging database passes ``integrity_check`` and ``foreign_key_check``;
- its production tables are exactly the ones bake-tracker v0.7 creates;
- every table has as many rows as before; every table other than the production ones is identical,
  row for row;
- every field of every run and consumption equals the original's (ids, links, timestamps to the
  microsecond; NUMERIC values at the column's scale, as the app reads them), and equals the
  before-document (the export taken from the original);
- statuses and losses are what the migration policy says (``complete`` / 0, or the inferred losses).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import create_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from .db import inspect_database, open_database
from .exporter import iter_runs
from .jsonio import load_json
from .tables import PRODUCTION_TABLES_V06, PRODUCTION_TABLES_V07, V07_TABLES, user_tables
from .values import db_number_to_text

MAX_MISMATCHES = 1000
RUN_NUMERIC = {"total_ingredient_cost": 4, "per_unit_cost": 4}
CONSUMPTION_NUMERIC = {"quantity_consumed": 3, "total_cost": 4}


@dataclass
class VerifyResult:
    """The verdict and the tables that support it (pandas DataFrames)."""

    passed: bool
    checks: pd.DataFrame
    summary: pd.DataFrame
    fields: pd.DataFrame
    mismatches: pd.DataFrame
    status_mix: pd.DataFrame
    shortfalls: pd.DataFrame

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

    def summary_line(self) -> str:
        """One line for the terminal."""
        failed = self.checks.loc[~self.checks["passed"], "check"].tolist()
        compared = int(self.fields["compared"].sum()) if len(self.fields) else 0
        if self.passed:
            return f"verify: PASS ({len(self.checks)} checks, {compared:,} field values compared, all equal)"
        return f"verify: FAIL ({', '.join(failed)}); the original is untouched"


def _expected_ddl() -> dict[str, str]:
    engine = create_engine("sqlite://")
    ddl = {}
    for table in V07_TABLES:
        ddl[table.name] = str(CreateTable(table).compile(engine)).strip()
        for index in table.indexes:
            ddl[index.name] = str(CreateIndex(index).compile(engine)).strip()
    return ddl


def _schema_differences(conn: sqlite3.Connection) -> list[str]:
    actual = {
        name: (sql or "").strip()
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name IN (?, ?, ?)", PRODUCTION_TABLES_V07
        )
    }
    expected = _expected_ddl()
    return sorted(n for n in set(actual) | set(expected) if actual.get(n) != expected.get(n))


def _frame(conn: sqlite3.Connection, sql: str, numeric: dict[str, int]) -> pd.DataFrame:
    frame = pd.read_sql_query(sql, conn, dtype=object)
    for column, scale in numeric.items():
        frame[column] = [db_number_to_text(v, scale) for v in frame[column]]
    return frame


def compare_frames(
    table: str, before: pd.DataFrame, after: pd.DataFrame, key: str, columns: Iterable[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare two tables column by column, matching rows on ``key``.

    Returns ``(fields, mismatches)``: per column how many values were compared, equal and
    different (a row present on one side only counts as different in every column), and the
    first differing values.
    """
    merged = before.merge(after, on=key, how="outer", suffixes=("_before", "_after"), indicator=True)
    both = merged["_merge"] == "both"
    rows, bad = [], []
    for column in columns:
        b, a = merged[f"{column}_before"], merged[f"{column}_after"]
        same = (b == a) | (b.isna() & a.isna())
        same &= both
        different = int((~same).sum())
        rows.append({"table": table, "column": column, "compared": len(merged),
                     "equal": len(merged) - different, "different": different})
        if different:
            diff = merged.loc[~same, [key, f"{column}_before", f"{column}_after"]].head(MAX_MISMATCHES)
            diff.columns = ["key", "before", "after"]
            diff.insert(0, "column", column)
            diff.insert(0, "table", table)
            bad.append(diff)
    mismatches = pd.concat(bad, ignore_index=True) if bad else _empty_mismatches()
    return pd.DataFrame(rows), mismatches


def _empty_mismatches() -> pd.DataFrame:
    return pd.DataFrame(columns=["table", "column", "key", "before", "after"])


def _flatten_document(runs: Iterable[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    run_rows, consumption_rows = [], []
    for run in runs:
        run_rows.append({k: v for k, v in run.items() if k not in ("consumptions", "losses")})
        for c in run.get("consumptions", []):
            consumption_rows.append({"run_uuid": run["uuid"], **c})
    return pd.DataFrame(run_rows, dtype=object), pd.DataFrame(consumption_rows, dtype=object)


def verify(
    db: str | os.PathLike[str],
    staging: str | os.PathLike[str],
    before: str | os.PathLike[str],
    *,
    expected: str | os.PathLike[str] | None = None,
) -> VerifyResult:
    """Compare ``staging`` (v0.7) with the original ``db`` (v0.6) and its export ``before``.

    ``expected`` is the transformed (v1.1) document when losses were inferred; without it every run
    must be ``complete`` with 0 losses.
    """
    inspect_database(db, integrity=False)
    inspect_database(staging, integrity=False)
    checks: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"check": name, "passed": bool(passed), "detail": detail})

    with open_database(staging) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        check("integrity", integrity == "ok", f"integrity_check: {integrity}")
        fk = conn.execute("PRAGMA foreign_key_check").fetchall()
        check("references", not fk, f"{len(fk)} broken references")
        schema_diff = _schema_differences(conn)
        check("v0.7 schema", not schema_diff,
              "production tables exactly as v0.7 creates them" if not schema_diff
              else f"differs: {', '.join(schema_diff)}")
        after_tables = set(user_tables(conn))
        after_counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in after_tables}
        after_runs = _frame(conn, "SELECT * FROM production_runs", RUN_NUMERIC)
        after_cons = _frame(conn, "SELECT * FROM production_consumptions", CONSUMPTION_NUMERIC)
        after_doc_runs, after_doc_cons = _flatten_document(iter_runs(conn, "1.1"))

    with open_database(db) as conn:
        before_tables = set(user_tables(conn))
        before_counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in before_tables}
        before_runs = _frame(conn, "SELECT * FROM production_runs", RUN_NUMERIC)
        before_cons = _frame(conn, "SELECT * FROM production_consumptions", CONSUMPTION_NUMERIC)

    expected_doc = load_json(expected) if expected is not None else None
    expected_losses = (
        sum(len(r.get("losses", [])) for r in expected_doc["production_runs"]) if expected_doc else 0
    )
    summary = pd.DataFrame(
        [
            {
                "table": t,
                "before": before_counts.get(t, expected_losses if t == "production_losses" else None),
                "after": after_counts.get(t),
            }
            for t in sorted(before_tables | after_tables)
        ]
    )
    summary["equal"] = summary["before"] == summary["after"]
    check("row counts", bool(summary["equal"].all()),
          f"{int(summary['equal'].sum())} of {len(summary)} tables have as many rows as before")

    untouched = sorted(before_tables - set(PRODUCTION_TABLES_V06))
    changed = _changed_tables(db, staging, untouched)
    check("other tables", not changed,
          f"{len(untouched)} tables identical row for row" if not changed else f"differ: {', '.join(changed)}")

    run_cols = [c for c in before_runs.columns if c != "uuid"]
    cons_cols = [c for c in before_cons.columns if c != "uuid"]
    f1, m1 = compare_frames("production_runs", before_runs, after_runs[before_runs.columns], "uuid", run_cols)
    f2, m2 = compare_frames("production_consumptions", before_cons, after_cons[before_cons.columns], "uuid",
                            cons_cols)
    doc_runs, doc_cons = _flatten_document(load_json(before)["production_runs"])
    f3, m3 = _compare_document(doc_runs, doc_cons, after_doc_runs, after_doc_cons)
    fields = pd.concat([f1, f2, f3], ignore_index=True)
    mismatches = pd.concat([m for m in (m1, m2, m3) if len(m)] or [_empty_mismatches()], ignore_index=True)
    db_fields = pd.concat([f1, f2])
    check("every field", int(db_fields["different"].sum()) == 0,
          f"{int(db_fields['compared'].sum()):,} values compared with the original, "
          f"{int(db_fields['different'].sum())} differ")
    check("export document", int(f3["different"].sum()) == 0,
          f"{int(f3['compared'].sum()):,} values compared with {Path(before).name}, "
          f"{int(f3['different'].sum())} differ")

    status_mix, policy_ok, policy_detail = _status_check(after_runs, after_counts, expected_doc)
    check("statuses and losses", policy_ok, policy_detail)
    shortfalls = _shortfalls(before_runs, doc_runs)
    passed = all(c["passed"] for c in checks)
    return VerifyResult(
        passed=passed,
        checks=pd.DataFrame(checks),
        summary=summary,
        fields=fields,
        mismatches=mismatches,
        status_mix=status_mix,
        shortfalls=shortfalls,
    )


def _compare_document(doc_runs, doc_cons, after_runs, after_cons) -> tuple[pd.DataFrame, pd.DataFrame]:
    if doc_runs.empty and after_runs.empty:
        return pd.DataFrame(columns=["table", "column", "compared", "equal", "different"]), _empty_mismatches()
    run_cols = [c for c in doc_runs.columns if c != "uuid"]
    f1, m1 = compare_frames("document: runs", doc_runs, after_runs[[c for c in doc_runs.columns]], "uuid",
                            run_cols)
    if doc_cons.empty and after_cons.empty:
        return f1, m1
    cons_cols = [c for c in doc_cons.columns if c != "uuid"]
    f2, m2 = compare_frames("document: consumptions", doc_cons, after_cons[[c for c in doc_cons.columns]],
                            "uuid", cons_cols)
    return pd.concat([f1, f2], ignore_index=True), pd.concat([m1, m2], ignore_index=True)


def _changed_tables(db: str | os.PathLike[str], staging: str | os.PathLike[str], tables: list[str]) -> list[str]:
    changed = []
    with open_database(staging) as conn:
        conn.execute("ATTACH DATABASE ? AS original", (str(Path(db)),))
        for table in tables:
            for first, second in (("original", "main"), ("main", "original")):
                extra = conn.execute(
                    f'SELECT count(*) FROM (SELECT * FROM {first}."{table}" EXCEPT SELECT * FROM {second}."{table}")'
                ).fetchone()[0]
                if extra:
                    changed.append(table)
                    break
        conn.execute("DETACH DATABASE original")
    return changed


def _status_check(after_runs: pd.DataFrame, after_counts: dict[str, int], expected_doc) -> tuple:
    statuses = after_runs["production_status"] if len(after_runs) else pd.Series([], dtype=object)
    losses = pd.to_numeric(after_runs["loss_quantity"]) if len(after_runs) else pd.Series([], dtype=int)
    mix = (
        pd.DataFrame({"production_status": statuses, "loss_quantity": losses})
        .groupby("production_status", as_index=False)
        .agg(runs=("loss_quantity", "size"), units_lost=("loss_quantity", "sum"))
    )
    if expected_doc is None:
        ok = bool((statuses == "complete").all() and (losses == 0).all()) and after_counts.get(
            "production_losses", 0
        ) == 0
        return mix, ok, "every run complete with 0 losses" if ok else "some runs are not complete / 0"
    want = {r["uuid"]: (r["production_status"], r["loss_quantity"]) for r in expected_doc["production_runs"]}
    got = dict(zip(after_runs["uuid"], zip(statuses, losses.astype(int), strict=True), strict=True))
    wrong = sum(1 for u, v in want.items() if got.get(u) != v)
    expected_losses = sum(len(r.get("losses", [])) for r in expected_doc["production_runs"])
    ok = wrong == 0 and after_counts.get("production_losses", 0) == expected_losses
    return mix, ok, f"{wrong} runs differ from the transformed document; {expected_losses} loss rows expected"


def _shortfalls(before_runs: pd.DataFrame, doc_runs: pd.DataFrame) -> pd.DataFrame:
    columns = ["uuid", "recipe_name", "produced_at", "expected_yield", "actual_yield", "unaccounted"]
    if doc_runs.empty:
        return pd.DataFrame(columns=columns)
    frame = doc_runs[["uuid", "recipe_name", "produced_at", "expected_yield", "actual_yield"]].copy()
    frame["unaccounted"] = frame["expected_yield"].astype(int) - frame["actual_yield"].astype(int)
    return frame[frame["unaccounted"] > 0].sort_values("produced_at").reset_index(drop=True)[columns]
