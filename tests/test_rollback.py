"""Rollback loses nothing: refused when nothing was switched, and what the app wrote since is listed and kept."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from bakemigrate.cli import main
from bakemigrate.db import content_digest, sha256_file


def add_run(db: Path, notes: str = "baked after the switch") -> None:
    """What the app does when a baker records a run: a real committed write (copied from an existing run)."""
    conn = sqlite3.connect(db)
    with conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(production_runs)") if r[1] not in ("id", "uuid", "notes")]
        conn.execute(
            f"INSERT INTO production_runs ({', '.join(cols)}, uuid, notes) "
            f"SELECT {', '.join(cols)}, lower(hex(randomblob(16))), ? FROM production_runs ORDER BY id LIMIT 1",
            (notes,),
        )
    conn.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home of Zoë"
    (folder / "Documents" / "BakeTracker").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("USERPROFILE", str(folder))
    monkeypatch.delenv("BAKING_TRACKER_ENV", raising=False)
    return folder


def test_migrate_and_rollback_with_no_arguments_from_another_folder(home: Path, demo_db: Path, tmp_path: Path,
                                                                    monkeypatch, capsys) -> None:
    db = home / "Documents" / "BakeTracker" / "bake_tracker.db"
    shutil.copyfile(demo_db, db)
    original = content_digest(db)
    elsewhere = tmp_path / "somewhere else"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["migrate", "--yes", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "database: ~/Documents/BakeTracker/bake_tracker.db (where bake-tracker keeps it)"
    assert out[-1].startswith("PASS:")
    assert (db.parent / "bakemigrate-work" / "journal.json").is_file()
    assert not (elsewhere / "bakemigrate-work").exists()
    monkeypatch.chdir(tmp_path)
    assert main(["rollback", "--yes"]) == 0
    assert content_digest(db) == original


def test_rollback_of_a_database_never_switched_is_refused_and_keeps_the_apps_write(demo_db: Path, tmp_path: Path,
                                                                                   capsys) -> None:
    work = tmp_path / "work"
    assert main(["backup", str(demo_db), "--workdir", str(work)]) == 0
    add_run(demo_db)
    before = sha256_file(demo_db)
    assert main(["rollback", str(demo_db), "--workdir", str(work), "--yes"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: nothing to roll back")
    assert sha256_file(demo_db) == before


def test_rollback_after_new_entries_lists_them_and_keeps_the_migrated_file(demo_db: Path, tmp_path: Path,
                                                                          capsys) -> None:
    work = tmp_path / "work"
    original = content_digest(demo_db)
    assert main(["migrate", str(demo_db), "--workdir", str(work), "--yes", "--quiet"]) == 0
    add_run(demo_db, "a Sunday batch")
    add_run(demo_db, "a Monday batch")
    current = content_digest(demo_db)
    capsys.readouterr()
    assert main(["rollback", str(demo_db), "--workdir", str(work), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "production_runs: 200 rows at the switch, 202 now (2 added)" in out
    assert "production runs entered since the switch (2):" in out
    assert content_digest(demo_db) == original
    kept = sorted(work.glob("before-rollback-*.db"))
    assert len(kept) == 1 and f"kept the file as it was in the work folder: {kept[0].name}" in out
    assert content_digest(kept[0]) == current
    assert oct(kept[0].stat().st_mode & 0o777) == oct(os.stat(demo_db).st_mode & 0o777)


def test_a_second_kept_copy_never_overwrites_the_first(demo_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    for _ in range(2):
        assert main(["migrate", str(demo_db), "--workdir", str(work), "--yes", "--quiet"]) == 0
        assert main(["rollback", str(demo_db), "--workdir", str(work), "--yes"]) == 0
    assert len(list(work.glob("before-rollback-*.db"))) == 2
