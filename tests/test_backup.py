"""Step 1, backup (bakemigrate.backup): a checked copy of the database, with the fingerprints that prove it later."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from bakemigrate.backup import backup, backup_paths, check_backup_checksum, kept_backup, read_manifest
from bakemigrate.cli import main
from bakemigrate.db import content_digest, sha256_file
from bakemigrate.errors import DatabaseRefused, MigrationError
from bakemigrate.files import partial_path


def test_the_backup_is_the_database_with_its_fingerprints_in_a_manifest(fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = backup(fixture_db, work, progress=False)
    assert (result.path, result.manifest_path) == backup_paths(fixture_db, work)
    assert result.path == work / "backup" / "bake_tracker.db"
    assert content_digest(result.path) == content_digest(fixture_db)
    assert result.sha256 == sha256_file(result.path)
    assert result.original_sha256 == sha256_file(fixture_db)
    assert result.original_size == fixture_db.stat().st_size
    assert (result.schema_version, result.runs, result.original_wal_sha256) == ("0.6", 60, None)
    assert read_manifest(fixture_db, work) == result
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["bake_tracker.db", "manifest.json"]


def test_a_second_backup_returns_the_first_without_writing(fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    first = backup(fixture_db, work, progress=False)
    written = first.path.stat().st_mtime_ns, first.manifest_path.stat().st_mtime_ns
    assert backup(fixture_db, work, progress=False) == first
    assert kept_backup(fixture_db, work) == first
    assert (first.path.stat().st_mtime_ns, first.manifest_path.stat().st_mtime_ns) == written


def test_no_backup_yet_is_none(fixture_db: Path, tmp_path: Path) -> None:
    assert read_manifest(fixture_db, tmp_path / "work") is None
    assert kept_backup(fixture_db, tmp_path / "work") is None


def test_a_backup_whose_bytes_changed_is_refused(fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = backup(fixture_db, work, progress=False)
    with open(result.path, "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        fh.write(b"\x01")
    with pytest.raises(MigrationError, match="the backup's checksum does not match its manifest$"):
        check_backup_checksum(result)
    with pytest.raises(MigrationError, match="the backup's checksum does not match its manifest$"):
        backup(fixture_db, work, progress=False)


def test_a_rename_cut_off_after_the_manifest_is_finished_by_the_check(fixture_db: Path, tmp_path: Path) -> None:
    """A run killed between writing the manifest and renaming the copy leaves `.NAME.partial`: the manifest
    vouches for it, so the next check finishes the rename."""
    result = backup(fixture_db, tmp_path / "work", progress=False)
    result.path.rename(partial_path(result.path))
    check_backup_checksum(result)
    assert sha256_file(result.path) == result.sha256 and not partial_path(result.path).exists()


def test_a_missing_backup_is_refused(fixture_db: Path, tmp_path: Path) -> None:
    result = backup(fixture_db, tmp_path / "work", progress=False)
    result.path.unlink()
    with pytest.raises(MigrationError, match="the backup is missing$"):
        check_backup_checksum(result)


def test_a_database_changed_since_its_backup_is_refused(fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    backup(fixture_db, work, progress=False)
    conn = sqlite3.connect(fixture_db)
    conn.execute("UPDATE production_runs SET notes = 'baked again' WHERE id = 1")
    conn.commit()
    conn.close()
    with pytest.raises(MigrationError, match="changed since the backup in .* was made; use a new work folder$"):
        backup(fixture_db, work, progress=False)


def test_a_file_that_is_not_a_database_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    not_db = tmp_path / "bake_tracker.db"
    not_db.write_text("just text")
    with pytest.raises(DatabaseRefused):
        backup(not_db, tmp_path / "work", progress=False)
    assert not (tmp_path / "work").exists()


def test_the_command_prints_the_summary_line(
    fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    assert main(["backup", str(fixture_db), "--workdir", str(work)]) == 0
    out, err = capsys.readouterr()
    result = read_manifest(fixture_db, work)
    assert out == result.summary_line() + "\n"
    assert out.startswith(f"backup {work / 'backup' / 'bake_tracker.db'}: integrity ok, 60 production runs, sha256 ")
    assert err == ""


def test_the_command_refuses_a_missing_database_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    assert main(["backup", str(tmp_path / "nope.db"), "--workdir", str(work)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert not work.exists()
