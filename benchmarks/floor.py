"""The physical floor of the v0.6 → v0.7 migration: the least work any safe migration must do.

On a copy of the database, in one transaction: drop the two v0.6 production tables, create the
three v0.7 ones exactly as bakemigrate does (:data:`bakemigrate.tables.V07_TABLES` DDL), and fill
them with ``INSERT … SELECT`` from the original (attached), every run ``complete`` with 0 losses;
then commit (SQLite's default durable commit). No export, no JSON, no verification.

Run it as ``python benchmarks/floor.py ORIGINAL COPY`` to time it in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.schema import CreateIndex, CreateTable

from bakemigrate.tables import PRODUCTION_TABLES_V06, V07_TABLES, production_consumptions_v07, production_runs_v07


@dataclass
class FloorResult:
    """Timings of the floor migration, in seconds."""

    copy: float
    rebuild: float
    runs: int
    consumptions: int

    @property
    def total(self) -> float:
        """Copy plus rebuild."""
        return self.copy + self.rebuild


def v07_ddl() -> list[str]:
    """CREATE TABLE and CREATE INDEX statements of the v0.7 production tables, parents first."""
    engine = create_engine("sqlite://")
    statements = []
    for table in V07_TABLES:
        statements.append(str(CreateTable(table).compile(engine)).strip())
        statements.extend(str(CreateIndex(index).compile(engine)).strip() for index in table.indexes)
    return statements


def _run_columns() -> tuple[str, str]:
    """The v0.7 run columns and the SELECT list that fills them from a v0.6 table."""
    names = [c.name for c in production_runs_v07.columns]
    select = ["'complete'" if n == "production_status" else "0" if n == "loss_quantity" else n for n in names]
    return ", ".join(names), ", ".join(select)


def floor_migration(original: str | os.PathLike[str], copy: str | os.PathLike[str]) -> FloorResult:
    """Migrate a copy of ``original`` at ``copy`` the cheapest safe way and time it."""
    source, target = Path(original), Path(copy)
    target.unlink(missing_ok=True)
    started = time.perf_counter()
    shutil.copyfile(source, target)
    with open(target, "rb+") as fh:
        os.fsync(fh.fileno())
    copied = time.perf_counter()
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("ATTACH DATABASE ? AS original", (str(source),))
        conn.execute("BEGIN")
        for name in reversed(PRODUCTION_TABLES_V06):
            conn.execute(f'DROP TABLE "{name}"')
        for statement in v07_ddl():
            conn.execute(statement)
        columns, select = _run_columns()
        runs = conn.execute(
            f"INSERT INTO production_runs ({columns}) SELECT {select} FROM original.production_runs"
        ).rowcount
        names = ", ".join(c.name for c in production_consumptions_v07.columns)
        consumptions = conn.execute(
            f"INSERT INTO production_consumptions ({names}) SELECT {names} FROM original.production_consumptions"
        ).rowcount
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE original")
    finally:
        conn.close()
    return FloorResult(copy=copied - started, rebuild=time.perf_counter() - copied, runs=runs,
                       consumptions=consumptions)


def main() -> None:
    """Time the floor once and print its timings as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original")
    parser.add_argument("copy")
    args = parser.parse_args()
    result = floor_migration(args.original, args.copy)
    print(json.dumps({**asdict(result), "total": result.total}))


if __name__ == "__main__":
    main()
