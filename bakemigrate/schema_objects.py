"""The database's own triggers, indexes and views on the production tables, kept through the migration.

A baker (or another tool) may have added objects of their own that refer to the production tables:
an audit trigger, an extra UNIQUE index, a view. Rebuilding the production tables in the v0.7 shape
would drop the triggers and indexes with their tables, so they are recreated, word for word, on the
v0.7 tables:

- the preflight rehearses it on an empty in-memory copy of the schema, and refuses (naming the
  object) when one cannot be recreated on v0.7, before anything is written;
- the reset step recreates them in the staging copy; the import drops the triggers on the production
  tables while it inserts the rows (so an audit trigger does not fire for rows that are only moved)
  and recreates them in the same transaction;
- the verification compares the whole `sqlite_master` apart from the production tables' own
  objects: every other object's type, name, table and SQL must be the same before and after.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import NamedTuple

from .errors import DatabaseRefused
from .tables import PRODUCTION_TABLES_V07, app_ddl

_REFERS = re.compile(r"\bproduction_(runs|consumptions|losses)\b", re.IGNORECASE)


class SchemaObject(NamedTuple):
    """One row of `sqlite_master` (its SQL is None for the indexes SQLite makes itself)."""

    type: str
    name: str
    tbl_name: str
    sql: str | None


def schema_objects(conn: sqlite3.Connection, schema: str = "main") -> list[SchemaObject]:
    """Every row of `sqlite_master`, in the order the objects were created."""
    return [SchemaObject(*row) for row in conn.execute(
        f'SELECT type, name, tbl_name, sql FROM "{schema}".sqlite_master ORDER BY rowid')]


def _is_app_object(obj: SchemaObject) -> bool:
    """True for a production table or index of bake-tracker's own.

    A v0.6 object is known by its name (the migration makes it as v0.7 makes it, whatever it held;
    the verification checks it against v0.7's own statement); an object only v0.7 makes, only when
    it is exactly v0.7's (in a v0.6 database, an index of that name is the database's own).
    """
    if obj.tbl_name not in PRODUCTION_TABLES_V07:
        return False
    return obj.name in app_ddl("0.6") or app_ddl("0.7").get(obj.name) == (obj.sql or "").strip()


def _quoted(name: str) -> str:
    """``name`` as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def kept_objects(conn: sqlite3.Connection, schema: str = "main") -> list[SchemaObject]:
    """Every object but the production tables' own (the app's tables and indexes), sorted.

    The migration rebuilds those; everything else must be the same before and after it.
    """
    return sorted(obj for obj in schema_objects(conn, schema) if not _is_app_object(obj))


def production_user_objects(conn: sqlite3.Connection, schema: str = "main") -> list[SchemaObject]:
    """The indexes and triggers on the production tables that are not the app's, in creation order.

    These are dropped with their tables when the tables are rebuilt, and must be recreated.
    """
    return [obj for obj in schema_objects(conn, schema)
            if obj.tbl_name in PRODUCTION_TABLES_V07 and obj.type in ("index", "trigger") and obj.sql
            and not _is_app_object(obj)]


def refers_to_production(obj: SchemaObject) -> bool:
    """True when the object is on a production table or its SQL names one."""
    return obj.tbl_name in PRODUCTION_TABLES_V07 or bool(_REFERS.search(obj.sql or ""))


def _exercise(conn: sqlite3.Connection, name: str) -> None:
    """Prepare an insert, an update of every column and a delete of no row on ``name``.

    SQLite resolves a trigger's statements only when it codes a statement that fires it: this makes
    it code every trigger on ``name``, and no row is touched.
    """
    table = _quoted(name)
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    if not columns:
        return
    sets = ", ".join(f"{_quoted(c)} = {_quoted(c)}" for c in columns)
    for statement in (f"INSERT INTO {table} SELECT * FROM {table} WHERE 0",
                      f"UPDATE {table} SET {sets} WHERE 0", f"DELETE FROM {table} WHERE 0"):
        try:
            conn.execute(statement)
        except sqlite3.OperationalError as exc:
            if "because it is a view" not in str(exc):  # a view without a trigger for this statement
                raise


def check_valid(conn: sqlite3.Connection, objects: Iterable[SchemaObject]) -> None:
    """Make SQLite resolve every name in ``objects`` (views read, triggers coded) on ``conn``.

    Raises:
        sqlite3.DatabaseError: one of them refers to something ``conn`` does not have.
    """
    for obj in objects:
        if obj.type == "view":
            table = _quoted(obj.name)
            conn.execute(f"SELECT * FROM {table} LIMIT 0").fetchall()
        elif obj.type == "trigger":
            _exercise(conn, obj.tbl_name)


def refuse_unless_kept_on_v07(conn: sqlite3.Connection, label: str) -> int:
    """Rehearse the rebuild on an empty in-memory copy of the schema; return how many objects are kept.

    The objects of the database that refer to the production tables (triggers, indexes and views)
    must be recreated, or still work, on the v0.7 tables. Nothing is written to ``conn``.

    Raises:
        DatabaseRefused: one cannot be kept on v0.7, naming it and SQLite's reason.
    """
    objects = schema_objects(conn)
    referring = [obj for obj in objects if obj.sql and obj.type != "table" and refers_to_production(obj)
                 and not _is_app_object(obj)]
    if not referring:
        return 0
    rehearsal = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for obj in objects:  # the other tables, empty; the ones that cannot be made here are left out
            if obj.type == "table" and obj.sql and obj.tbl_name not in PRODUCTION_TABLES_V07:
                try:
                    rehearsal.execute(obj.sql)
                except sqlite3.DatabaseError:
                    pass
        for statement in app_ddl("0.7").values():
            rehearsal.execute(statement)
        for obj in sorted(referring, key=lambda o: ("index", "view", "trigger").index(o.type)):
            try:
                rehearsal.execute(obj.sql)
            except sqlite3.DatabaseError as exc:
                raise _cannot_keep(label, obj, exc) from None
        for obj in referring:
            try:
                check_valid(rehearsal, [obj])
            except sqlite3.DatabaseError as exc:
                raise _cannot_keep(label, obj, exc) from None
    finally:
        rehearsal.close()
    return len(referring)


def _cannot_keep(label: str, obj: SchemaObject, exc: sqlite3.DatabaseError) -> DatabaseRefused:
    return DatabaseRefused(
        f"{label}: the {obj.type} {obj.name} (on {obj.tbl_name}) cannot be kept on the v0.7 production "
        f"tables ({exc}); change or drop it in the v0.6 database, then migrate"
    )
