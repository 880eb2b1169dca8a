"""Guarantee 2: a failure during the migration (full disk, broken write, read-only folder, the app
changing the database) ends with one clear line, leaves the original untouched and leaves the work
folder in a state that a re-run finishes from."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import (
    Reference,
    artefact_problems,
    database_state,
    leftovers,
    mount_tmpfs,
    remount_tmpfs,
    report_free_disk,
    unmount,
)

import bakemigrate.backup
import bakemigrate.exporter
import bakemigrate.importer
import bakemigrate.jsonio
import bakemigrate.reset
from bakemigrate.cli import main
from bakemigrate.db import content_digest, sha256_file
from bakemigrate.errors import DatabaseRefused
from bakemigrate.pipeline import Migration


@pytest.fixture(scope="module")
def migrated_reference(tmp_path_factory: pytest.TempPathFactory, demo_template: Path) -> dict:
    """The demo database's migration done once: its digest and the sizes of every work file."""
    folder = tmp_path_factory.mktemp("reference")
    db = folder / "bake_tracker.db"
    shutil.copyfile(demo_template, db)
    work = folder / "work"
    migration = Migration(db, work, progress=False)
    migration.backup()
    migration.verify()
    sizes = {name: (work / name).stat().st_size for name in ("export_v1.0.json", "export_v1.1.json", "staging.db")}
    sizes["backup"] = demo_template.stat().st_size
    migration.switch(confirm=True)
    ref = Reference(sha256_file(demo_template), content_digest(db), 200)
    return {"ref": ref, "sizes": sizes}


def migrate(db: Path, workdir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``bakemigrate migrate DB --workdir DIR --yes`` in this process; returns (exit code, stderr)."""
    capsys.readouterr()
    code = main(["migrate", str(db), "--workdir", str(workdir), "--yes", "--quiet"])
    return code, capsys.readouterr().err


def refused_cleanly(code: int, err: str, expected: str) -> str:
    """Exit 2 with one ``error:`` line containing ``expected``, never a traceback."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0], lines[0]
    return lines[0]


def rerun_migrates(db: Path, workdir: Path, ref: Reference, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = migrate(db, workdir, capsys)
    assert code == 0, err
    assert database_state(db, ref) == "migrated"
    assert artefact_problems(db, workdir) == []


# -- a full disk ------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "small"
    folder.mkdir()
    yield folder
    unmount(folder)


@pytest.mark.parametrize("full_during", ["backup", "export", "staging"])
def test_disk_full_on_a_real_small_filesystem(
    full_during: str, small_disk: Path, demo_db: Path, migrated_reference: dict,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    sizes, ref = migrated_reference["sizes"], migrated_reference["ref"]
    room = {
        "backup": sizes["backup"] // 2,
        "export": sizes["backup"] + sizes["export_v1.0.json"] // 2,
        "staging": sizes["backup"] + sizes["export_v1.0.json"] + sizes["export_v1.1.json"] + sizes["staging.db"] // 2,
    }[full_during]
    reason = mount_tmpfs(small_disk, room + 64 * 1024)
    if reason:
        pytest.skip(reason)
    # the preflight estimate would refuse this disk up front; pretend it is big enough to reach the write
    report_free_disk(monkeypatch, 10**12)
    workdir = small_disk / "work"
    code, err = migrate(demo_db, workdir, capsys)
    refused_cleanly(code, err, "full" if full_during != "export" else "No space left on device")
    assert database_state(demo_db, ref) == "original"
    assert artefact_problems(demo_db, workdir) == []
    assert leftovers(workdir) == []
    remount_tmpfs(small_disk, 64 * 1024 * 1024)
    rerun_migrates(demo_db, workdir, ref, capsys)


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _sqlite_full(*args, **kwargs):
    raise sqlite3.OperationalError("database or disk is full")


def _half_then(module, name: str, failure, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``module.name`` do part of its work, then fail as a full disk would."""
    original = getattr(module, name)
    if name == "write_document":
        def failing(fh, header, runs, advance, **kwargs):
            fh.write(b'{\n  "version": "1.0",')
            failure()
    elif name == "copy_database":
        def failing(source, target, **kwargs):
            original(source, target, **kwargs)
            with open(target, "r+b") as fh:
                fh.truncate(fh.seek(0, 2) // 2)
            failure()
    else:
        def failing(*args, **kwargs):
            failure()
    monkeypatch.setattr(module, name, failing)


@pytest.mark.parametrize(
    ("module", "name", "failure", "message"),
    [
        (bakemigrate.backup, "copy_database", _sqlite_full, "database or disk is full"),
        (bakemigrate.exporter, "write_document", _enospc, "No space left on device"),
        (bakemigrate.reset, "create_v07_production_tables", _sqlite_full, "database or disk is full"),
        (bakemigrate.jsonio, "dump_json", _enospc, "No space left on device"),
    ],
    ids=["backup", "export", "staging", "journal"],
)
def test_disk_full_write_error_injected(
    module, name: str, failure, message: str, demo_db: Path, migrated_reference: dict,
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = migrated_reference["ref"]
    workdir = tmp_path / "work"
    with monkeypatch.context() as patch:
        _half_then(module, name, failure, patch)
        code, err = migrate(demo_db, workdir, capsys)
    refused_cleanly(code, err, message)
    assert database_state(demo_db, ref) == "original"
    assert artefact_problems(demo_db, workdir) == []
    assert leftovers(workdir) == []
    rerun_migrates(demo_db, workdir, ref, capsys)


# -- an import that fails half-way ---------------------------------------------------------------------

def fail_on_insert(monkeypatch: pytest.MonkeyPatch, nth: int) -> list[int]:
    """Make the ``nth`` INSERT sent to the staging database fail as a disk I/O error; returns the count so far."""
    seen = [0]
    connect = sqlite3.connect  # the import opens the staging database with it when it runs

    class FailingConnection(sqlite3.Connection):
        def _count(self, statement: str) -> None:
            if statement.lstrip().upper().startswith("INSERT"):
                seen[0] += 1
                if seen[0] == nth:
                    raise sqlite3.OperationalError("disk I/O error")

        def execute(self, statement: str, *args, **kwargs):  # type: ignore[override]
            self._count(statement)
            return super().execute(statement, *args, **kwargs)

        def executemany(self, statement: str, *args, **kwargs):  # type: ignore[override]
            self._count(statement)
            return super().executemany(statement, *args, **kwargs)

    def connect_failing(database, *args, **kwargs):  # the staging database opened to be written
        if Path(database).name == "staging.db":
            kwargs["factory"] = FailingConnection
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(bakemigrate.importer.sqlite3, "connect", connect_failing)
    return seen


def production_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("production_runs", "production_consumptions", "production_losses")}


def test_import_failing_at_the_nth_chunk_imports_nothing(
    demo_db: Path, migrated_reference: dict, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref = migrated_reference["ref"]
    workdir = tmp_path / "work"
    migration = Migration(demo_db, workdir, progress=False)
    migration.backup()
    migration.transform()
    migration.reset()
    staging_before = content_digest(migration.staging)
    with monkeypatch.context() as patch:
        inserts = fail_on_insert(patch, nth=2)  # the runs are in, the consumptions fail
        capsys.readouterr()
        code = main(["import", str(migration.export_v11), str(migration.staging), "--quiet"])
        err = capsys.readouterr().err
    assert inserts[0] == 2
    refused_cleanly(code, err, "disk I/O error")
    assert production_counts(migration.staging) == {
        "production_runs": 0, "production_consumptions": 0, "production_losses": 0
    }
    assert content_digest(migration.staging) == staging_before
    assert database_state(demo_db, ref) == "original"
    with monkeypatch.context() as patch:
        fail_on_insert(patch, nth=2)
        code, err = migrate(demo_db, workdir, capsys)
    refused_cleanly(code, err, "disk I/O error")
    assert database_state(demo_db, ref) == "original"
    rerun_migrates(demo_db, workdir, ref, capsys)


# -- a read-only work folder -----------------------------------------------------------------------------

def test_read_only_work_folder(
    demo_db: Path, migrated_reference: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = migrated_reference["ref"]
    folder = tmp_path / "read-only"
    reason = mount_tmpfs(folder, 64 * 1024 * 1024, readonly=True)
    if reason:  # without root a mode is enough
        folder.chmod(0o555)
    try:
        for workdir in (folder, folder / "work"):  # an existing empty folder, and one to create
            code, err = migrate(demo_db, workdir, capsys)
            refused_cleanly(code, err, "Read-only file system" if not reason else "Permission denied")
            assert database_state(demo_db, ref) == "original"
            assert list(folder.iterdir()) == []
        if not reason:
            remount_tmpfs(folder, 64 * 1024 * 1024)
        else:
            folder.chmod(0o755)
        rerun_migrates(demo_db, folder / "work", ref, capsys)
    finally:
        if not reason:
            unmount(folder)


# -- the app changes the database between the backup and the switch -------------------------------------

def test_database_changed_by_the_app_before_the_switch(
    demo_db: Path, migrated_reference: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = tmp_path / "work"
    migration = Migration(demo_db, workdir, progress=False)
    migration.backup()
    assert migration.verify().passed
    with sqlite3.connect(demo_db) as conn:  # the baker records one more note in the app
        conn.execute("UPDATE production_runs SET notes = 'added after the backup' WHERE id = "
                     "(SELECT min(id) FROM production_runs)")
    changed = sha256_file(demo_db)
    with pytest.raises(DatabaseRefused, match="changed since the backup"):
        migration.switch(confirm=True)
    assert sha256_file(demo_db) == changed
    code, err = migrate(demo_db, workdir, capsys)  # the same work folder refuses the same way
    refused_cleanly(code, err, "changed since the backup")
    assert sha256_file(demo_db) == changed
    assert not Path(f"{demo_db}-journal").exists()
    code, err = migrate(demo_db, tmp_path / "new-work", capsys)  # a new work folder migrates the change
    assert code == 0, err
    with sqlite3.connect(demo_db) as conn:
        note = conn.execute("SELECT notes FROM production_runs ORDER BY id LIMIT 1").fetchone()[0]
    assert note == "added after the backup"
