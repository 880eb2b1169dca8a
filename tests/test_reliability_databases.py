"""Guarantees 4 and 5: a file that is not a sound bake-tracker v0.6 database, or one the app holds
open, is refused before anything is written: one line, the file unchanged, no work folder."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from reliability_helpers import one_line_error

from bakemigrate.cli import main
from bakemigrate.db import APP_OPEN, sha256_file
from bakemigrate.pipeline import Migration


def _empty(db: Path, source: Path) -> None:
    db.write_bytes(b"")


def _text(db: Path, source: Path) -> None:
    db.write_text("flour 500 g\nsugar 200 g\n", encoding="utf-8")


def _truncated(db: Path, source: Path) -> None:
    data = source.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def _other_app(db: Path, source: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('not a bakery')")


def _dropped(table: str, *, migrated: bool) -> Callable[[Path, Path], None]:
    def make(db: Path, source: Path) -> None:
        shutil.copyfile(source, db)
        if migrated:
            migration = Migration(db, db.parent / "first-work", progress=False)
            migration.backup()
            migration.verify()
            migration.switch(confirm=True)
            shutil.rmtree(db.parent / "first-work")
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute(f"DROP TABLE {table}")
    return make


def _broken_reference(db: Path, source: Path) -> None:
    shutil.copyfile(source, db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE production_consumptions SET production_run_id = 999999 "
                     "WHERE id = (SELECT min(id) FROM production_consumptions)")


def _corrupt_page(db: Path, source: Path) -> None:
    data = bytearray(source.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[3 * page : 3 * page + 200] = b"\xff" * 200  # garbage over a b-tree page, size unchanged
    db.write_bytes(bytes(data))


HOSTILE = {
    "empty file": (_empty, "the file is empty"),
    "text file": (_text, "not a SQLite database"),
    "truncated copy": (_truncated, "truncated"),
    "corrupt page": (_corrupt_page, "malformed"),
    "another app's database": (_other_app, "not a bake-tracker database"),
    "v0.6 without recipes": (_dropped("recipes", migrated=False), "not a bake-tracker database"),
    "v0.7 without production_losses": (_dropped("production_losses", migrated=True), "no production_losses table"),
    "broken references": (_broken_reference, "rows point to rows that do not exist"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_database_refused_before_anything_is_written(
    case: str, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = HOSTILE[case]
    db = tmp_path / "hostile" / "bake_tracker.db"
    db.parent.mkdir()
    make(db, demo_db)
    before = sha256_file(db)
    workdir = tmp_path / "work"
    capsys.readouterr()
    code = main(["migrate", str(db), "--workdir", str(workdir), "--yes", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    line = one_line_error(err)
    assert expected in line, line
    assert sha256_file(db) == before
    assert not workdir.exists()
    assert sorted(p.name for p in db.parent.iterdir()) == ["bake_tracker.db"]


def test_hostile_database_refused_by_a_real_process(tmp_path: Path, process_cli) -> None:
    db = tmp_path / "bake_tracker.db"
    _text(db, db)
    done = process_cli("migrate", db, "--workdir", tmp_path / "work", "--yes")
    assert done.returncode == 2
    assert one_line_error(done.stderr) == f"error: {db}: not a SQLite database"
    assert not (tmp_path / "work").exists()


# -- the app holds the database open --------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE production_runs SET notes = 'being edited' WHERE id = (SELECT min(id) FROM production_runs)")
print("holding", flush=True)
time.sleep(60)
"""

HOLD_WAL = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA wal_autocheckpoint=0")
conn.execute("UPDATE production_runs SET notes = 'saved in the wal' WHERE id = (SELECT min(id) FROM production_runs)")
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture
def app_holding(request: pytest.FixtureRequest) -> Iterator[Callable[[Path, str], None]]:
    children: list[subprocess.Popen[str]] = []

    def hold(db: Path, script: str) -> None:
        child = subprocess.Popen([sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout.readline().strip() == "holding"

    yield hold
    for child in children:
        child.kill()
        child.wait()


def files_beside(db: Path) -> dict[str, str]:
    """Checksums of the database and its -wal; the -shm is SQLite's shared index that any reader updates."""
    return {p.name: sha256_file(p) for p in db.parent.iterdir() if p.is_file() and not p.name.endswith("-shm")}


@pytest.mark.parametrize("script", [HOLD_LOCK, HOLD_WAL], ids=["write lock", "open wal with unsaved frames"])
def test_app_open_refused_and_nothing_touched(
    script: str, demo_db: Path, tmp_path: Path, app_holding, cli
) -> None:
    app_holding(demo_db, script)
    before = files_beside(demo_db)
    workdir = tmp_path / "work"
    started = time.monotonic()
    done = cli("migrate", demo_db, "--workdir", workdir, "--yes")
    assert done.returncode == 2, done.stderr
    assert APP_OPEN in one_line_error(done.stderr)
    assert time.monotonic() - started < 30  # refused at once, not after waiting for the lock
    assert files_beside(demo_db) == before
    assert not workdir.exists()
