"""A v0.6 file that bake-tracker 0.7 has opened once (its `create_all` added an empty
`production_losses`, nothing else) is recognised, said so in the preflight, and migrated exactly as
the same file 0.7 never opened; any other `production_losses` beside v0.6 runs stays a refusal."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from dbfacts import reference_statements
from reliability_helpers import one_line_error

from bakemigrate.cli import main
from bakemigrate.db import content_digest, inspect_database, sha256_file

OPENED_NOTE = "bake-tracker 0.7 has opened this file once: it added an empty production_losses table"


def open_with_v07(db: Path) -> None:
    """What bake-tracker 0.7's `init_database()` does to a v0.6 file: WAL, and the missing table with its indexes."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in reference_statements("0.7", "production_losses"):
        conn.execute(statement)
    conn.commit()
    conn.close()


def contents(db: Path) -> tuple:
    """Every schema object and every row, in rowid order; the uuid and timestamps of an inferred loss
    row are new at each migration (made when it is recorded), so they are left out."""
    conn = sqlite3.connect(db)
    schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    rows = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall():
        columns = "*"
        if table == "production_losses":
            columns = "production_run_id, finished_unit_id, loss_category, loss_quantity, notes, " \
                      "per_unit_cost, total_loss_cost, id"
        rows[table] = conn.execute(f'SELECT {columns} FROM "{table}" ORDER BY rowid').fetchall()
    conn.close()
    return schema, rows


def migrated(db: Path, workdir: Path, *flags: str) -> tuple:
    assert main(["migrate", str(db), "--workdir", str(workdir), "--yes", "--quiet", *flags]) == 0
    return content_digest(db) if not flags else contents(db)


@pytest.mark.parametrize("flags", [(), ("--infer-losses",)], ids=["kept complete", "inferred losses"])
def test_opened_by_v07_migrates_exactly_as_the_plain_v06_file(
    fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    plain = tmp_path / "plain" / "bake_tracker.db"
    plain.parent.mkdir()
    shutil.copyfile(fixture_db, plain)
    opened = tmp_path / "opened" / "bake_tracker.db"
    opened.parent.mkdir()
    shutil.copyfile(fixture_db, opened)
    open_with_v07(opened)
    info = inspect_database(opened)
    assert info.schema_version == "0.6" and info.opened_by_v07
    assert not inspect_database(plain).opened_by_v07

    expected = migrated(plain, tmp_path / "plain-work", *flags)
    capsys.readouterr()
    assert migrated(opened, tmp_path / "opened-work", *flags) == expected
    out = capsys.readouterr().out
    assert OPENED_NOTE in " ".join(out.split())
    note = out.split("work folder:")[0].splitlines()[1:]  # the preflight's note, wrapped under its line
    assert len(note) > 1 and all(line.startswith("  ") and len(line) <= 80 for line in note), note


def test_opened_by_v07_said_in_the_dry_run(fixture_db: Path, tmp_path: Path, capsys) -> None:
    open_with_v07(fixture_db)
    before = sha256_file(fixture_db)
    assert main(["migrate", str(fixture_db), "--workdir", str(tmp_path / "work"), "--dry-run"]) == 0
    assert OPENED_NOTE in " ".join(capsys.readouterr().out.split())
    assert sha256_file(fixture_db) == before


def _with_row(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO production_losses VALUES ((SELECT min(id) FROM production_runs), "
        "(SELECT min(id) FROM finished_units), 'burnt', 2, NULL, 0.5, 1.0, 1, "
        "'00000000-0000-4000-8000-000000000001', '2024-01-01 00:00:00.000000', '2024-01-01 00:00:00.000000')"
    )


def _extra_index(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX my_losses_notes ON production_losses (notes)")


def _index_missing(conn: sqlite3.Connection) -> None:
    conn.execute("DROP INDEX idx_production_loss_category")


def _other_shape(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TABLE production_losses")
    conn.execute("CREATE TABLE production_losses (id INTEGER PRIMARY KEY, production_run_id INTEGER, note TEXT)")


def _trigger_on_it(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TRIGGER my_loss_trigger AFTER INSERT ON production_losses BEGIN SELECT 1; END")


NOT_LEFT_BY_V07: dict[str, tuple[Callable[[sqlite3.Connection], None], str]] = {
    "a loss row": (_with_row, "holds rows"),
    "an extra index": (_extra_index, "not the one bake-tracker 0.7 creates"),
    "an index missing": (_index_missing, "not the one bake-tracker 0.7 creates"),
    "other columns": (_other_shape, "not the one bake-tracker 0.7 creates"),
    "a trigger on it": (_trigger_on_it, "not the one bake-tracker 0.7 creates"),
}


@pytest.mark.parametrize("case", list(NOT_LEFT_BY_V07))
def test_other_production_losses_beside_v06_runs_refused(
    case: str, fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, expected = NOT_LEFT_BY_V07[case]
    open_with_v07(fixture_db)
    with sqlite3.connect(fixture_db) as conn:
        change(conn)
    conn.close()
    before = sha256_file(fixture_db)
    workdir = tmp_path / "work"
    capsys.readouterr()
    assert main(["migrate", str(fixture_db), "--workdir", str(workdir), "--yes", "--quiet"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert expected in line and "production tables match neither bake-tracker v0.6 nor v0.7" in line, line
    assert sha256_file(fixture_db) == before
    assert not workdir.exists()
