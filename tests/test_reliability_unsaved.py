"""Guarantee 11: what a crashed bake-tracker left beside the database is neither lost nor written.

A `-wal` holding a committed change that a killed app never checkpointed: every inspection (the dry
run, a declined migrate, locate, backup, export) leaves the database and that `-wal` byte for byte,
the preflight says so, and the backup and the migration hold the change. A `-journal` holding a save
that was cut off (a hot journal) is refused in one clear line, and nothing is rolled back or written.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from conftest import run_main as cli
from reliability_helpers import REPO, one_line_error

from bakemigrate.db import sha256_file

NOTE = "saved by the app just before it crashed"

#: A bake-tracker that commits one change in WAL mode and dies without a checkpoint.
CRASH_IN_WAL = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA wal_autocheckpoint=0")
conn.execute("UPDATE production_runs SET notes = ? WHERE id = (SELECT min(id) FROM production_runs)", (sys.argv[2],))
if sys.argv[3] == "exit":
    os._exit(0)
print("committed", flush=True)
signal.pause()
"""

#: A bake-tracker in rollback-journal mode killed in the middle of a save (pages already spilled).
CRASH_MID_SAVE = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size=1")
conn.execute("BEGIN")
conn.execute("UPDATE production_consumptions SET unit = unit || ' '")
os._exit(0)
"""


def crash_in_wal(db: Path, how: str) -> None:
    """Leave `db` with a committed change only in its `-wal`: the app os._exit()s or is SIGKILLed."""
    child = subprocess.Popen([sys.executable, "-c", CRASH_IN_WAL, str(db), NOTE, how], stdout=subprocess.PIPE,
                             text=True)
    if how == "kill":
        assert child.stdout.readline().strip() == "committed"
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    assert Path(f"{db}-wal").stat().st_size > 32, "the change must be in the -wal"


def note_in(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT notes FROM production_runs ORDER BY id LIMIT 1").fetchone()[0]
    finally:
        conn.close()


def fingerprint(db: Path) -> dict[str, str]:
    """The checksums of the database and its -wal/-journal (the -shm is the index any reader updates)."""
    return {p.name: sha256_file(p) for p in sorted(db.parent.iterdir())
            if p.is_file() and p.name.startswith(db.name) and not p.name.endswith("-shm")}




@pytest.mark.parametrize("how", ["exit", "kill"], ids=["os._exit", "SIGKILL"])
def test_a_dry_run_keeps_the_database_and_its_wal_byte_for_byte(how: str, demo_db: Path, tmp_path: Path) -> None:
    crash_in_wal(demo_db, how)
    before = fingerprint(demo_db)
    assert f"{demo_db.name}-wal" in before
    done = cli("migrate", demo_db, "--workdir", tmp_path / "work", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "unsaved changes" in done.stdout and "the backup includes them" in done.stdout, done.stdout
    assert fingerprint(demo_db) == before
    for inspection in (("locate",), ("export", demo_db, tmp_path / "export.json", "--quiet"),
                       ("verify", demo_db, demo_db, "--before", tmp_path / "export.json")):
        cli(*inspection)
        assert fingerprint(demo_db) == before, inspection
    assert not (tmp_path / "work").exists()


def test_a_declined_migrate_keeps_them_and_the_backup_and_the_migration_hold_the_change(
    demo_db: Path, tmp_path: Path
) -> None:
    crash_in_wal(demo_db, "kill")
    before = fingerprint(demo_db)
    work = tmp_path / "work"
    child = pexpect.spawn(sys.executable, ["-m", "bakemigrate", "migrate", str(demo_db), "--workdir", str(work),
                                           "--quiet"], cwd=str(REPO), encoding="utf-8", timeout=300)
    child.expect(r"\[y/N\] ")
    shown = child.before
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1, child.before
    assert "unsaved changes" in shown, shown
    assert fingerprint(demo_db) == before
    assert note_in(work / "backup" / demo_db.name) == NOTE  # the backup holds the change from the -wal
    assert note_in(work / "staging.db") == NOTE
    done = cli("migrate", demo_db, "--workdir", work, "--yes", "--quiet")
    assert done.returncode == 0, done.stderr
    assert note_in(demo_db) == NOTE
    assert not Path(f"{demo_db}-wal").exists()  # replaced with the file: its change is in the migrated one


def test_the_app_still_running_with_a_wal_is_refused(demo_db: Path, tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CRASH_IN_WAL, str(demo_db), NOTE, "hold"], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "committed"
        before = fingerprint(demo_db)
        for extra in ("--dry-run", "--yes"):
            done = cli("migrate", demo_db, "--workdir", tmp_path / "work", extra)
            assert done.returncode == 2
            assert "close bake-tracker first (it has unsaved changes in" in one_line_error(done.stderr)
        assert fingerprint(demo_db) == before and not (tmp_path / "work").exists()
    finally:
        child.kill()
        child.wait()


def test_a_save_cut_off_in_rollback_journal_mode_is_refused_clearly(demo_db: Path, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", CRASH_MID_SAVE, str(demo_db)], check=True, timeout=60)
    journal = Path(f"{demo_db}-journal")
    assert journal.stat().st_size > 0
    before = fingerprint(demo_db)
    lines = set()
    for args in (("migrate", demo_db, "--workdir", tmp_path / "work", "--dry-run"),
                 ("migrate", demo_db, "--workdir", tmp_path / "work", "--yes"),
                 ("backup", demo_db, "--workdir", tmp_path / "work"),
                 ("export", demo_db, tmp_path / "export.json")):
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        line = one_line_error(done.stderr)
        assert "a save was cut off" in line and "disk I/O error" not in line, line
        lines.add(line) if args[0] == "migrate" else None
    assert len(lines) == 1  # the dry run refuses with the real run's line
    assert fingerprint(demo_db) == before  # nothing rolled back, nothing written
    assert not (tmp_path / "work").exists() and not (tmp_path / "export.json").exists()
    # once the app has opened and closed it (SQLite undoes the cut-off save), the migration goes ahead
    sqlite3.connect(demo_db).execute("SELECT count(*) FROM production_runs").fetchone()
    assert not journal.exists() or journal.stat().st_size == 0
    done = cli("migrate", demo_db, "--workdir", tmp_path / "work", "--yes", "--quiet")
    assert done.returncode == 0, done.stderr
