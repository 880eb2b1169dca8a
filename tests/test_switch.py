"""Step 7, switch (bakemigrate.switch): the verified copy takes the database's place in one rename, or
nothing changes."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import VerifiedMigration

from bakemigrate.cli import main
from bakemigrate.db import inspect_database, sha256_file
from bakemigrate.errors import DatabaseRefused, MigrationError
from bakemigrate.switch import switch


@dataclass(frozen=True)
class Verified:
    """A v0.6 database and its verified v0.7 staging copy, as the migration leaves them before the switch."""

    db: Path
    staging: Path


@pytest.fixture
def verified(verified_fixture: VerifiedMigration, tmp_path: Path) -> Verified:
    """A copy of the database beside a copy of its verified staging database (the work folder's place)."""
    db, staging = tmp_path / "bake_tracker.db", tmp_path / "work" / "staging.db"
    staging.parent.mkdir()
    shutil.copyfile(verified_fixture.db, db)
    shutil.copyfile(verified_fixture.staging, staging)
    return Verified(db, staging)


def hidden_beside(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith("."))


def test_the_verified_copy_takes_the_place_of_the_database(verified: Verified) -> None:
    new = sha256_file(verified.staging)
    result = switch(verified.db, verified.staging, original_sha256=sha256_file(verified.db), staging_sha256=new)
    assert (result.db, result.switched, result.sha256) == (verified.db, True, new)
    assert sha256_file(verified.db) == new and inspect_database(verified.db).schema_version == "0.7"
    assert not verified.staging.exists()
    assert hidden_beside(verified.db) == []
    assert result.summary_line() == f"switched: {verified.db} is now the migrated v0.7 database (sha256 {new[:16]}…)"


def test_an_idle_wal_and_shm_beside_the_database_go_with_it(verified: Verified) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{verified.db}{suffix}").write_bytes(b"")
    switch(verified.db, verified.staging, original_sha256=sha256_file(verified.db),
           staging_sha256=sha256_file(verified.staging))
    assert sorted(p.name for p in verified.db.parent.iterdir()) == ["bake_tracker.db", "work"]


def test_a_database_changed_since_the_backup_is_not_replaced(verified: Verified) -> None:
    backed_up = sha256_file(verified.db)
    conn = sqlite3.connect(verified.db)
    conn.execute("UPDATE production_runs SET notes = 'baked since' WHERE id = 1")
    conn.commit()
    conn.close()
    changed = sha256_file(verified.db)
    with pytest.raises(DatabaseRefused, match=r"changed since the backup \(was bake-tracker used\?\); nothing was"):
        switch(verified.db, verified.staging, original_sha256=backed_up, staging_sha256=sha256_file(verified.staging))
    assert sha256_file(verified.db) == changed and verified.staging.exists()
    assert hidden_beside(verified.db) == []


def test_a_staging_database_changed_after_verify_is_refused(verified: Verified) -> None:
    verified_sha = sha256_file(verified.staging)
    with open(verified.staging, "ab") as fh:
        fh.write(b"\0" * 4096)
    before = sha256_file(verified.db)
    with pytest.raises(MigrationError, match="changed after it was verified; run the migration again$"):
        switch(verified.db, verified.staging, original_sha256=before, staging_sha256=verified_sha)
    assert sha256_file(verified.db) == before


def test_a_staging_database_still_being_written_is_refused(verified: Verified) -> None:
    Path(f"{verified.staging}-journal").write_bytes(b"a transaction")
    with pytest.raises(MigrationError, match=r"is still being written \(staging\.db-journal exists\)$"):
        switch(verified.db, verified.staging, original_sha256=sha256_file(verified.db),
               staging_sha256=sha256_file(verified.staging))


def test_a_missing_staging_database_is_refused(verified: Verified) -> None:
    digest = sha256_file(verified.staging)
    verified.staging.unlink()
    with pytest.raises(MigrationError, match="the verified staging database is missing; run the migration again$"):
        switch(verified.db, verified.staging, original_sha256=sha256_file(verified.db), staging_sha256=digest)


def test_the_command_switches_once_migrate_has_verified(
    fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    for argv in (["migrate", fixture_db, "--workdir", work, "--quiet"], ["switch", fixture_db, "--workdir", work]):
        assert main([str(arg) for arg in argv]) == 2  # no --yes and no terminal to ask at: verified, not switched
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "run again with --yes" in err
        assert inspect_database(fixture_db).schema_version == "0.6"
    assert main(["switch", str(fixture_db), "--workdir", str(work), "--yes"]) == 0
    out = capsys.readouterr().out
    assert out == f"switched: {fixture_db} is now the migrated v0.7 database (sha256 {sha256_file(fixture_db)[:16]}…)\n"
    assert inspect_database(fixture_db).schema_version == "0.7"
