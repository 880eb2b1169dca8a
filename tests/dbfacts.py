"""Independent readers of SQLite schemas and rows for the tests (no bakemigrate code involved)."""

from __future__ import annotations

import re
import sqlite3

from fixture_paths import REFERENCE


def reference_db(version: str) -> sqlite3.Connection:
    """An in-memory database built from the app's reference DDL at ``version`` ("0.6" or "0.7")."""
    text = (REFERENCE / f"schema_v{version}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in body.split(";\n") if s.strip()]
    conn = sqlite3.connect(":memory:")
    for statement in sorted(statements, key=lambda s: not s.startswith("CREATE TABLE")):
        conn.execute(statement)
    return conn


def table_facts(conn: sqlite3.Connection, table: str) -> dict:
    """Columns, indexes (with their columns), foreign keys and named CHECKs of ``table``."""
    columns = [tuple(r) for r in conn.execute(f'PRAGMA table_info("{table}")')]
    indexes = {}
    for _, name, unique, origin, partial in conn.execute(f'PRAGMA index_list("{table}")'):
        cols = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")')]
        indexes[name] = (unique, origin, partial, cols)
    fks = sorted(tuple(r[2:]) for r in conn.execute(f'PRAGMA foreign_key_list("{table}")'))
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()[0]
    checks = sorted(re.findall(r"CONSTRAINT (\w+) CHECK \((.*?)\)(?:,|\s*\n)", sql))
    return {"columns": columns, "indexes": indexes, "foreign_keys": fks, "checks": checks}


def all_tables(conn: sqlite3.Connection) -> list[str]:
    """Every ordinary table, sorted."""
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def rows(conn: sqlite3.Connection, table: str, columns: list[str], scales: dict[str, int]) -> dict:
    """Rows of ``table`` keyed by id, NUMERIC columns read at their scale as the app reads them."""
    out = {}
    for row in conn.execute(f'SELECT id, {", ".join(columns)} FROM "{table}"'):
        values = []
        for name, value in zip(columns, row[1:], strict=True):
            if name in scales and value is not None:
                value = f"{value:.{scales[name]}f}"
            values.append(value)
        out[row[0]] = tuple(values)
    return out


def reference_statements(version: str, tbl_name: str) -> list[str]:
    """The app's own ``CREATE`` statements at ``version`` for the objects on ``tbl_name``, table first."""
    text = (REFERENCE / f"schema_v{version}.sql").read_text(encoding="utf-8")
    found = []
    for block in text.split("\n\n"):
        head, _, body = block.strip().partition("\n")
        if f" tbl_name={tbl_name}" in f"{head} " and head.endswith(f"tbl_name={tbl_name}") and body:
            found.append(body.strip().rstrip(";"))
    return sorted(found, key=lambda s: not s.startswith("CREATE TABLE"))


def reference_names(version: str) -> set[str]:
    """The names of every object the app's own ``init_database()`` creates at ``version``."""
    text = (REFERENCE / f"schema_v{version}.sql").read_text(encoding="utf-8")
    return set(re.findall(r"^-- type=\w+ name=(\S+) tbl_name=", text, flags=re.MULTILINE))
