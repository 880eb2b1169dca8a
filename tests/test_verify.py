"""Step 6, verify (bakemigrate.verify): the staging copy against the original and its export, value by value."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import VerifiedMigration

from bakemigrate.cli import main
from bakemigrate.db import sha256_file
from bakemigrate.errors import DatabaseRefused
from bakemigrate.verify import verify


@pytest.fixture
def migrated(verified_fixture: VerifiedMigration) -> VerifiedMigration:
    """The fixture database, its exports and its staging copy with the history imported (not switched)."""
    return verified_fixture


def staging_copy(migrated: VerifiedMigration, folder: Path, change: str | None = None) -> Path:
    """A copy of the staging database in ``folder``, with the SQL ``change`` made to it."""
    copy = folder / "staging.db"
    shutil.copyfile(migrated.staging, copy)
    if change is not None:
        conn = sqlite3.connect(copy)
        conn.execute(change)
        conn.commit()
        conn.close()
    return copy


def failed_checks(result) -> list[str]:
    return result.checks.loc[~result.checks["passed"], "check"].tolist()


def test_a_faithful_copy_passes_and_nothing_is_written(migrated: VerifiedMigration) -> None:
    before = sha256_file(migrated.db), sha256_file(migrated.staging)
    result = verify(migrated.db, migrated.staging, migrated.export_v10)
    assert result.passed and result.verdict == "PASS"
    assert failed_checks(result) == []
    assert result.summary_line().startswith(f"verify: PASS ({len(result.checks)} checks, ")
    assert result.summary_line().endswith(" field values compared, all equal)")
    assert (sha256_file(migrated.db), sha256_file(migrated.staging)) == before


def test_the_statuses_are_checked_against_the_transformed_document(migrated: VerifiedMigration) -> None:
    assert verify(migrated.db, migrated.staging, migrated.export_v10, expected=migrated.export_v11).passed


def test_a_changed_value_fails(migrated: VerifiedMigration, tmp_path: Path) -> None:
    staging = staging_copy(migrated, tmp_path, "UPDATE production_runs SET notes = 'changed' WHERE id = 3")
    result = verify(migrated.db, staging, migrated.export_v10)
    assert not result.passed and result.verdict == "FAIL"
    assert failed_checks(result) != []
    assert result.summary_line() == f"verify: FAIL ({', '.join(failed_checks(result))}); the original is untouched"


def test_a_missing_run_fails(migrated: VerifiedMigration, tmp_path: Path) -> None:
    staging = staging_copy(migrated, tmp_path, "DELETE FROM production_consumptions WHERE id = "
                                               "(SELECT max(id) FROM production_consumptions)")
    assert not verify(migrated.db, staging, migrated.export_v10).passed


def test_the_original_given_twice_is_refused(migrated: VerifiedMigration) -> None:
    with pytest.raises(DatabaseRefused, match="is the database .* itself; verify compares the original"):
        verify(migrated.db, migrated.db, migrated.export_v10)


def test_a_staging_copy_that_is_not_v07_is_refused(migrated: VerifiedMigration, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    shutil.copyfile(migrated.db, other)
    with pytest.raises(DatabaseRefused, match=r"is bake-tracker v0\.6, not a migrated v0\.7 copy"):
        verify(migrated.db, other, migrated.export_v10)


def test_the_command_exits_0_on_pass_and_1_on_fail(
    migrated: VerifiedMigration, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(migrated.db), str(migrated.staging), "--before", str(migrated.export_v10)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == verify(migrated.db, migrated.staging, migrated.export_v10).summary_line()
    changed = staging_copy(migrated, tmp_path, "UPDATE production_runs SET notes = 'changed' WHERE id = 3")
    assert main(["verify", str(migrated.db), str(changed), "--before", str(migrated.export_v10)]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("verify: FAIL (")


def test_the_command_for_scripts_says_the_outcome(
    migrated: VerifiedMigration, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = staging_copy(migrated, tmp_path, "UPDATE production_runs SET notes = 'changed' WHERE id = 3")
    for staging, code, outcome in ((migrated.staging, 0, "passed"), (changed, 1, "failed")):
        assert main(["verify", str(migrated.db), str(staging), "--before", str(migrated.export_v10), "--json"]) == code
        report = json.loads(capsys.readouterr().out)
        assert (report["command"], report["outcome"], report["exit_code"]) == ("verify", outcome, code)
        assert report["staging"] == str(staging.resolve())


def test_the_command_refuses_a_missing_export_in_one_line(
    migrated: VerifiedMigration, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.json"
    assert main(["verify", str(migrated.db), str(migrated.staging), "--before", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"error: {missing}: file not found\n"
