"""The migration as a whole (bakemigrate.pipeline): `Migration(db, workdir)`, its step methods and `run`."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import report_free_disk

from bakemigrate import Migration
from bakemigrate.backup import read_manifest
from bakemigrate.cli import main
from bakemigrate.db import content_digest, inspect_database, sha256_file
from bakemigrate.errors import DatabaseRefused, MigrationError
from bakemigrate.steps import PLAN


def quiet(text: str) -> None:
    """An `echo` that prints nothing."""


def test_the_preflight_reads_the_database_and_writes_nothing(fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    before = sha256_file(fixture_db)
    checked = Migration(fixture_db, work, progress=False).preflight()
    assert (checked.db, checked.info.schema_version, checked.info.runs) == (fixture_db, "0.6", 60)
    assert not checked.already_migrated
    assert 2 * fixture_db.stat().st_size <= checked.needed_bytes <= checked.free_bytes
    assert sha256_file(fixture_db) == before and not work.exists()


def test_the_preflight_refuses_a_disk_without_room_for_the_work_files(
    fixture_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    report_free_disk(monkeypatch, 1000)
    with pytest.raises(DatabaseRefused, match=rf"^{work}: not enough free disk: needs [0-9.]+ MB in {tmp_path} "):
        Migration(fixture_db, work, progress=False).preflight()


def test_migrate_refuses_a_full_disk_in_one_line_and_writes_nothing(
    fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    before = sha256_file(fixture_db)
    report_free_disk(monkeypatch, 1000)
    assert main(["migrate", str(fixture_db), "--workdir", str(work), "--yes", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {work}: not enough free disk: ") and err.count("\n") == 1
    assert sha256_file(fixture_db) == before and not work.exists()


def test_a_run_migrates_and_a_second_run_finds_it_done(fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    original = content_digest(fixture_db)
    result = Migration(fixture_db, work, progress=False).run(yes=True, echo=quiet)
    assert (result.exit_code, result.outcome) == (0, "migrated")
    assert result.verification is not None and result.verification.passed
    assert [line.split()[0] for line in result.steps] == [step.name for step in PLAN]
    assert inspect_database(fixture_db).schema_version == "0.7"
    assert content_digest(read_manifest(fixture_db, work).path) == original  # the backup is the original
    again = Migration(fixture_db, work, progress=False).run(yes=True, echo=quiet)
    assert (again.exit_code, again.outcome) == (0, "already-migrated")


def test_a_dry_run_changes_nothing(fixture_db: Path, tmp_path: Path) -> None:
    before = sha256_file(fixture_db)
    said: list[str] = []
    result = Migration(fixture_db, tmp_path / "work", progress=False).run(dry_run=True, echo=said.append)
    assert (result.exit_code, result.outcome, result.message) == (0, "dry-run", "dry run: nothing was changed")
    assert [f"  {step.name}: to run" for step in PLAN] == [
        line for line in "\n".join(said).splitlines() if line.endswith(": to run")
    ]
    assert sha256_file(fixture_db) == before


def test_each_step_method_keeps_what_an_earlier_call_made(fixture_db: Path, tmp_path: Path) -> None:
    migration = Migration(fixture_db, tmp_path / "work", progress=False)
    first = migration.backup()
    assert migration.backup() == first
    exported = migration.export()
    written = migration.export_v10.stat().st_mtime_ns
    assert migration.export().path == exported.path == migration.export_v10
    assert migration.export_v10.stat().st_mtime_ns == written
    assert migration.verify().passed  # runs transform, reset and import on the way
    assert migration.export_v11.exists() and migration.staging.exists()
    assert inspect_database(fixture_db).schema_version == "0.6"  # nothing is switched without asking


def test_a_step_before_the_backup_is_refused(fixture_db: Path, tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match=r"no backup yet; run the backup step first$"):
        Migration(fixture_db, tmp_path / "work", progress=False).export()


def test_the_switch_needs_a_confirmation(fixture_db: Path, tmp_path: Path) -> None:
    migration = Migration(fixture_db, tmp_path / "work", progress=False)
    migration.backup()
    assert migration.verify().passed
    result = migration.switch(confirm=False)
    assert not result.switched and inspect_database(fixture_db).schema_version == "0.6"
    assert migration.switch(confirm=True).switched and inspect_database(fixture_db).schema_version == "0.7"


def test_a_rollback_puts_the_original_back(fixture_db: Path, tmp_path: Path) -> None:
    original = content_digest(fixture_db)
    migration = Migration(fixture_db, tmp_path / "work", progress=False)
    assert migration.run(yes=True, echo=quiet).outcome == "migrated"
    plan = migration.rollback_plan()
    assert plan.needed and plan.lines() == ["nothing was entered since the switch: the rollback loses nothing"]
    restored = migration.rollback(confirm=True)
    backed_up = read_manifest(fixture_db, migration.workdir)
    assert restored.restored and restored.sha256 == sha256_file(fixture_db) == backed_up.sha256
    assert content_digest(fixture_db) == original and inspect_database(fixture_db).schema_version == "0.6"
    assert not migration.rollback(confirm=True).restored  # already the original: nothing to do


def test_the_work_folder_is_kept_apart_from_the_database(fixture_db: Path, tmp_path: Path) -> None:
    inside = fixture_db.parent
    with pytest.raises(MigrationError):
        Migration(fixture_db, inside, progress=False).backup()
    assert sorted(p.name for p in inside.iterdir()) == ["bake_tracker.db"]



def test_the_switch_asks_the_callers_question_and_never_the_terminal(
    fixture_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_terminal(*args: object) -> str:
        raise AssertionError("the library read the terminal")

    monkeypatch.setattr("builtins.input", no_terminal)
    before = sha256_file(fixture_db)
    asked: list[str] = []
    result = Migration(fixture_db, tmp_path / "work", progress=False).run(
        echo=quiet, ask=lambda question: asked.append(question) or False)
    assert (result.exit_code, result.outcome) == (1, "declined")
    assert asked == [f"Verified. Replace {fixture_db} with the migrated database?"]
    assert sha256_file(fixture_db) == before
    with pytest.raises(MigrationError, match=r"Needs confirmation and there is no terminal to ask at: run again"):
        Migration(fixture_db, tmp_path / "work", progress=False).run(echo=quiet)
    assert sha256_file(fixture_db) == before
    result = Migration(fixture_db, tmp_path / "work", progress=False).run(echo=quiet, ask=lambda question: True)
    assert (result.exit_code, result.outcome) == (0, "migrated")
    assert inspect_database(fixture_db).schema_version == "0.7"
