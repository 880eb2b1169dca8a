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
from typing import Any

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


def _rows(conn: sqlite3.Connection, table: str, schema: str = "main") -> list[tuple[Any, ...]]:
    return conn.execute(f'SELECT * FROM {schema}."{table}" ORDER BY id').fetchall()


def step_floors(original: str | os.PathLike[str], scratch: str | os.PathLike[str]) -> dict[str, float]:
    """The least work of each step on its own, in seconds, for the step-by-step comparison.

    backup: copy the file and fsync it; export: read every production row and write them as one
    JSON array; import: `executemany` of the same rows into the empty v0.7 tables, one commit;
    verify: read the production rows of the original and of the imported copy and compare them
    pairwise; switch: `os.replace` of the copy and an fsync of the folder.
    """
    folder = Path(scratch)
    folder.mkdir(parents=True, exist_ok=True)
    copy, document = folder / "step-floor.db", folder / "step-floor.json"
    times: dict[str, float] = {}
    started = time.perf_counter()
    shutil.copyfile(original, copy)
    with open(copy, "rb+") as fh:
        os.fsync(fh.fileno())
    times["backup"] = time.perf_counter() - started

    source = sqlite3.connect(original)
    started = time.perf_counter()
    runs, consumptions = _rows(source, "production_runs"), _rows(source, "production_consumptions")
    with open(document, "w", encoding="utf-8") as fh:
        json.dump({"runs": runs, "consumptions": consumptions}, fh, default=str)
    times["export"] = time.perf_counter() - started

    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    for name in reversed(PRODUCTION_TABLES_V06):
        conn.execute(f'DROP TABLE "{name}"')
    for statement in v07_ddl():
        conn.execute(statement)
    conn.execute("COMMIT")
    run_names = [c.name for c in production_runs_v07.columns]
    v06_names = [d[0] for d in source.execute("SELECT * FROM production_runs LIMIT 0").description]
    widened = [tuple(dict(zip(v06_names, row, strict=True)).get(n, "complete" if n == "production_status" else 0)
                     for n in run_names) for row in runs]
    started = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO production_runs ({', '.join(run_names)}) "
                     f"VALUES ({', '.join('?' * len(run_names))})", widened)
    width = len(consumptions[0]) if consumptions else 0
    conn.executemany(f"INSERT INTO production_consumptions VALUES ({', '.join('?' * width)})", consumptions)
    conn.execute("COMMIT")
    times["import"] = time.perf_counter() - started

    started = time.perf_counter()
    for table in ("production_runs", "production_consumptions"):
        before, after = _rows(source, table), _rows(conn, table)
        if len(before) != len(after) or any(b[0] != a[0] for b, a in zip(before, after, strict=True)):
            raise RuntimeError(f"step floor: {table} differs after the import")
    times["verify"] = time.perf_counter() - started
    conn.close()
    source.close()

    started = time.perf_counter()
    os.replace(copy, folder / "step-floor-switched.db")
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    times["switch"] = time.perf_counter() - started
    for leftover in ("step-floor-switched.db", "step-floor.json"):
        (folder / leftover).unlink(missing_ok=True)
    return times


def main() -> None:
    """Time the floor once and print its timings as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original")
    parser.add_argument("copy")
    parser.add_argument("--steps", action="store_true", help="time each step's own floor instead")
    args = parser.parse_args()
    if args.steps:
        print(json.dumps(step_floors(args.original, Path(args.copy).parent)))
        return
    result = floor_migration(args.original, args.copy)
    print(json.dumps({**asdict(result), "total": result.total}))


if __name__ == "__main__":
    main()
