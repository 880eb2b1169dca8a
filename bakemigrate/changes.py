"""What the app wrote to a database since a moment recorded in the journal (for a safe rollback).

At the switch, `table_marks` records every table's row count and largest rowid. Later,
`changes_since` compares the database with those marks: rows added (a rowid above the mark), rows
gone, and the production runs added, by date and recipe, so a rollback can say what it would discard.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .db import open_database
from .tables import user_tables

MAX_RUNS_LISTED = 10


@dataclass
class TableChange:
    """One table's rows now against its mark."""

    table: str
    rows_then: int
    rows_now: int
    added: int


@dataclass
class Changes:
    """Everything written since the marks were taken."""

    tables: list[TableChange] = field(default_factory=list)
    new_runs: list[tuple[str, str]] = field(default_factory=list)
    """Production runs added since, as (date, recipe), oldest first (at most `MAX_RUNS_LISTED`)."""
    new_run_count: int = 0
    file_changed: bool = False
    """True when the file's bytes differ from the switched database (even without a row changed)."""

    @property
    def any(self) -> bool:
        """True when any table gained, lost or changed rows."""
        return bool(self.tables)

    def lines(self) -> list[str]:
        """The listing a person reads before agreeing to discard it."""
        out = [f"  {c.table}: {c.rows_then:,} rows at the switch, {c.rows_now:,} now ({c.added:,} added)"
               for c in self.tables]
        if self.file_changed and not self.tables:
            out.append("  no row added or removed, but the file changed (edited rows or the app's housekeeping)")
        if self.new_run_count:
            out.append(f"  production runs entered since the switch ({self.new_run_count:,}):")
            out += [f"    {when}  {recipe}" for when, recipe in self.new_runs]
            if self.new_run_count > len(self.new_runs):
                out.append(f"    ... and {self.new_run_count - len(self.new_runs):,} more")
        return out

    def as_dict(self) -> dict[str, Any]:
        """Plain values for a report."""
        return {
            "tables": [vars(c) for c in self.tables],
            "new_runs": [{"produced_at": when, "recipe": recipe} for when, recipe in self.new_runs],
            "new_run_count": self.new_run_count,
        }


def table_marks(db: str | os.PathLike[str]) -> dict[str, list[int]]:
    """Every table's `[row count, largest rowid]` now."""
    with open_database(db) as conn:
        return {
            table: list(conn.execute(f'SELECT count(*), coalesce(max(rowid), 0) FROM "{table}"').fetchone())
            for table in user_tables(conn)
        }


def changes_since(db: str | os.PathLike[str], marks: dict[str, list[int]]) -> Changes:
    """What `db` holds beyond `marks` (from `table_marks` at the switch)."""
    changes = Changes()
    with open_database(db) as conn:
        for table in user_tables(conn):
            then, top = marks.get(table, [0, 0])
            now, added = conn.execute(
                f'SELECT count(*), count(*) FILTER (WHERE rowid > ?) FROM "{table}"', (top,)
            ).fetchone()
            if now != then or added:
                changes.tables.append(TableChange(table, then, now, added))
        top = marks.get("production_runs", [0, 0])[1]
        if "production_runs" in user_tables(conn):
            changes.new_run_count = conn.execute(
                "SELECT count(*) FROM production_runs WHERE rowid > ?", (top,)
            ).fetchone()[0]
            changes.new_runs = [
                (str(when)[:16], recipe or "(unknown recipe)")
                for when, recipe in conn.execute(
                    "SELECT r.produced_at, c.name FROM production_runs r LEFT JOIN recipes c ON c.id = r.recipe_id "
                    "WHERE r.rowid > ? ORDER BY r.produced_at LIMIT ?",
                    (top, MAX_RUNS_LISTED),
                )
            ]
    return changes
