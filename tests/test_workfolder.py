"""The work folder: its journal is read without writing, the --infer-losses choice is resumed from it,
and a verdict recorded by `bakemigrate verify` is what `switch` trusts, while the files stay as verified."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bakemigrate import Migration, MigrationError
from bakemigrate.cli import main
from bakemigrate.db import sha256_file


def test_reading_the_journal_and_planning_write_nothing(demo_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    migration = Migration(demo_db, work, progress=False)
    assert migration.journal.get("start") is None
    assert migration.plan_lines()[0] == "backup: to run"
    assert not work.exists()


def test_resume_takes_the_choice_the_journal_records(demo_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert Migration.resume(demo_db, work).infer_losses is False  # nothing recorded yet
    Migration(demo_db, work, infer_losses=True, progress=False).backup()
    assert Migration.resume(demo_db, work).infer_losses is True
    with pytest.raises(MigrationError, match="was started with --infer-losses"):
        Migration(demo_db, work, progress=False).export()
    with pytest.raises(TypeError, match="Migration.resume"):
        Migration(demo_db, work, infer_losses=None)  # type: ignore[arg-type]


def test_a_step_runs_the_steps_it_needs_and_says_so(demo_db: Path, tmp_path: Path) -> None:
    said: list[str] = []
    migration = Migration(demo_db, tmp_path / "work", progress=False, echo=said.append)
    with pytest.raises(MigrationError, match="no backup yet; run the backup step first"):
        migration.import_()
    migration.backup()
    assert migration.import_().runs == 200
    assert said == ["import needs export first: running it", "import needs reset first: running it"]
    said.clear()
    assert migration.verify().passed and said == []  # everything it needs is done: nothing runs first


def _by_hand(work: Path, db: Path) -> tuple[Path, Path]:
    """Steps 1 to 5 of the command-line guide; the backup and the staging database."""
    backup, v10, v11, staging = work / "backup" / db.name, work / "export_v1.0.json", work / "export_v1.1.json", \
        work / "staging.db"
    for args in (["backup", db, "--workdir", work], ["export", backup, v10, "--quiet"], ["transform", v10, v11],
                 ["reset", backup, staging], ["import", v11, staging, "--quiet"]):
        assert main([str(a) for a in args]) == 0, args
    return backup, staging


def test_switch_refuses_a_staging_database_changed_after_verify(demo_db: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    backup, staging = _by_hand(work, demo_db)
    assert main(["verify", str(backup), str(staging), "--before", str(work / "export_v1.0.json")]) == 0
    with sqlite3.connect(staging) as conn:
        conn.execute("UPDATE production_runs SET notes = 'edited after the verdict' WHERE id = 1")
    conn.close()
    digest = sha256_file(demo_db)
    capsys.readouterr()
    assert main(["switch", str(demo_db), "--workdir", str(work), "--yes"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {staging}: changed after it was verified; run the migration again\n"
    assert sha256_file(demo_db) == digest


def test_switch_refuses_a_pass_given_against_another_database(demo_db: Path, tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    backup, staging = _by_hand(work, demo_db)
    other = tmp_path / "other.db"
    other.write_bytes(backup.read_bytes())
    conn = sqlite3.connect(other, isolation_level=None)  # the same rows, in a file with other bytes
    conn.execute("CREATE TABLE scratch (x)")
    conn.execute("DROP TABLE scratch")
    conn.close()
    assert sha256_file(other) != sha256_file(backup)
    assert main(["verify", str(other), str(staging), "--before", str(work / "export_v1.0.json")]) == 0
    capsys.readouterr()
    assert main(["switch", str(demo_db), "--workdir", str(work), "--yes"]) == 2
    assert "was verified against another database than the backup" in capsys.readouterr().err
