"""Guarantee 10: no write lands on the database. A work folder that holds the database, or a file of
it that is the database under another name (a hard link, a symbolic link, a bind mount), is refused
before anything is written, as is an output of a step command that is its input or the app's own
database; and a dry run refuses everything the real run refuses, with the same line."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from reliability_helpers import mount_tmpfs, one_line_error, unmount

from bakemigrate.cli import main
from bakemigrate.db import inspect_database, sha256_file
from bakemigrate.pipeline import Migration


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder`, with the SHA-256 of each file (links not followed)."""
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            found[os.path.relpath(os.path.join(root, name), folder)] = "folder"
        for name in files:
            path = os.path.join(root, name)
            key = os.path.relpath(path, folder)
            found[key] = "link" if os.path.islink(path) else hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


def run(capsys: pytest.CaptureFixture[str], *args: str | os.PathLike[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys: pytest.CaptureFixture[str], *args: str | os.PathLike[str]) -> str:
    code, _, err = run(capsys, *args)
    assert code == 2, err
    return one_line_error(err)


# -- item: a database inside its own work folder ------------------------------------------------------

def _db_at(relative: str) -> Callable[[Path, Path], tuple[Path, Path]]:
    def make(tmp: Path, source: Path) -> tuple[Path, Path]:
        work = tmp / "work"
        db = work / relative
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, db)
        return db, work
    return make


def _hard_link(name: str) -> Callable[[Path, Path], tuple[Path, Path]]:
    def make(tmp: Path, source: Path) -> tuple[Path, Path]:
        db = tmp / "data" / "bake_tracker.db"
        db.parent.mkdir()
        shutil.copyfile(source, db)
        (tmp / "work" / "backup").mkdir(parents=True)
        os.link(db, tmp / "work" / name)
        return db, tmp / "work"
    return make


def _symlinked_work_folder(tmp: Path, source: Path) -> tuple[Path, Path]:
    db = tmp / "data" / "bake_tracker.db"
    db.parent.mkdir()
    shutil.copyfile(source, db)
    (tmp / "work").symlink_to(db.parent, target_is_directory=True)
    return db, tmp / "work"


def _link_to_a_database_in_the_work_folder(tmp: Path, source: Path) -> tuple[Path, Path]:
    work = tmp / "work"
    work.mkdir()
    shutil.copyfile(source, work / "staging.db")
    (tmp / "bake_tracker.db").symlink_to(work / "staging.db")
    return tmp / "bake_tracker.db", work


def _link_to_a_database_deep_in_the_work_folder(tmp: Path, source: Path) -> tuple[Path, Path]:
    db, work = _db_at("old/x.db")(tmp, source)
    (tmp / "bake_tracker.db").symlink_to(db)
    return tmp / "bake_tracker.db", work


def _folder_link_into_the_work_folder(tmp: Path, source: Path) -> tuple[Path, Path]:
    db, work = _db_at("old/bake_tracker.db")(tmp, source)
    (tmp / "data").symlink_to(db.parent, target_is_directory=True)
    return tmp / "data" / db.name, work


def _work_folder_linked_to_a_parent_of_the_database(tmp: Path, source: Path) -> tuple[Path, Path]:
    db = tmp / "data" / "kitchen" / "bake_tracker.db"
    db.parent.mkdir(parents=True)
    shutil.copyfile(source, db)
    (tmp / "work").symlink_to(tmp / "data", target_is_directory=True)
    return db, tmp / "work"


PLACES = {
    "the database is WORK/staging.db": (_db_at("staging.db"), "holds the database"),
    "the database is WORK/old/x.db": (_db_at("old/x.db"), "holds the database"),
    "the database is three folders deep in WORK": (_db_at("a/b/c/bake_tracker.db"), "holds the database"),
    "the database is a link to a file deep in WORK": (_link_to_a_database_deep_in_the_work_folder,
                                                      "holds the database"),
    "the database's folder is a link into WORK": (_folder_link_into_the_work_folder, "holds the database"),
    "WORK is a symbolic link to a parent of its folder": (_work_folder_linked_to_a_parent_of_the_database,
                                                          "holds the database"),
    "the database is WORK/export_v1.0.json": (_db_at("export_v1.0.json"), "holds the database"),
    "the database is in WORK/backup": (_db_at("backup/bake_tracker.db"), "holds the database"),
    "WORK/staging.db is a hard link to it": (_hard_link("staging.db"), "is the database"),
    "WORK/export_v1.1.json is a hard link to it": (_hard_link("export_v1.1.json"), "is the database"),
    "WORK/journal.json is a hard link to it": (_hard_link("journal.json"), "is the database"),
    "WORK/backup/bake_tracker.db is a hard link to it": (_hard_link("backup/bake_tracker.db"), "is the database"),
    "WORK is a symbolic link to its folder": (_symlinked_work_folder, "holds the database"),
    "the database is a link to a file in WORK": (_link_to_a_database_in_the_work_folder, "holds the database"),
}


@pytest.mark.parametrize("dry_run", [False, True], ids=["migrate", "dry run"])
@pytest.mark.parametrize("case", list(PLACES))
def test_a_work_folder_holding_the_database_is_refused_before_anything_is_written(
    case: str, dry_run: bool, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = PLACES[case]
    (tmp_path / "t").mkdir()
    db, work = make(tmp_path / "t", demo_db)
    before = snapshot(tmp_path / "t")
    line = refused(capsys, "migrate", db, "--workdir", work, "--quiet", "--dry-run" if dry_run else "--yes")
    assert expected in line and "--workdir DIR" in line, line
    assert snapshot(tmp_path / "t") == before


@pytest.mark.parametrize("dry_run", [False, True], ids=["migrate", "dry run"])
def test_a_default_work_folder_that_is_a_link_to_a_parent_of_the_database_is_refused(
    dry_run: bool, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --workdir: `bakemigrate-work` beside the database, here a link to the folder above it."""
    db = tmp_path / "t" / "kitchen" / "bake_tracker.db"
    db.parent.mkdir(parents=True)
    shutil.copyfile(demo_db, db)
    (db.parent / "bakemigrate-work").symlink_to(tmp_path / "t", target_is_directory=True)
    before = snapshot(tmp_path / "t")
    line = refused(capsys, "migrate", db, "--quiet", "--dry-run" if dry_run else "--yes")
    assert "holds the database" in line and "--workdir DIR" in line, line
    assert snapshot(tmp_path / "t") == before


@pytest.mark.parametrize("relative", ["staging.db", "old/x.db"])
def test_a_work_folder_seen_through_a_bind_mount_is_refused(
    relative: str, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same folder under another name (as a case-insensitive disk gives): compared by identity."""
    if os.geteuid() != 0:
        pytest.skip("a bind mount needs root")
    db, work = _db_at(relative)(tmp_path, demo_db)
    other = tmp_path / "other-name"
    other.mkdir()
    done = subprocess.run(["mount", "--bind", str(work), str(other)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    try:
        before = sha256_file(db)
        before_work = snapshot(work)
        for args in ((other / relative, "--workdir", work), (db, "--workdir", other)):
            for mode in ("--yes", "--dry-run"):
                line = refused(capsys, "migrate", *args, mode, "--quiet")
                assert "holds the database" in line, line
        assert sha256_file(db) == before and snapshot(work) == before_work
    finally:
        unmount(other)


def test_a_killed_run_cannot_have_destroyed_a_database_in_its_work_folder(
    demo_db: Path, tmp_path: Path, cli
) -> None:
    """The real process is refused at once; the database is still the v0.6 original afterwards."""
    db, work = _db_at("staging.db")(tmp_path, demo_db)
    before = sha256_file(db)
    done = cli("migrate", db, "--workdir", work, "--yes", "--quiet")
    assert done.returncode == 2
    assert "holds the database" in one_line_error(done.stderr)
    again = cli("migrate", db, "--workdir", work, "--yes", "--quiet")
    assert one_line_error(again.stderr) == one_line_error(done.stderr)
    assert sha256_file(db) == before and sorted(p.name for p in work.iterdir()) == ["staging.db"]


def test_step_commands_refuse_writing_over_the_database(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    app_db = home / "Documents" / "BakeTracker" / "bake_tracker.db"
    app_db.parent.mkdir(parents=True)
    shutil.copyfile(demo_db, app_db)
    monkeypatch.setenv("HOME", str(home))
    os.link(demo_db, tmp_path / "also.db")
    (tmp_path / "link.db").symlink_to(demo_db)
    (tmp_path / "app-link.db").symlink_to(app_db)
    work = tmp_path / "work"
    assert run(capsys, "export", demo_db, tmp_path / "export.json", "--quiet")[0] == 0
    export = tmp_path / "export.json"
    os.link(export, tmp_path / "export-link.json")
    assert run(capsys, "reset", demo_db, tmp_path / "staging.db")[0] == 0
    before = snapshot(tmp_path)
    cases = [
        (("reset", demo_db, demo_db), "must not be the original"),
        (("reset", demo_db, tmp_path / "link.db"), "must not be the original"),
        (("reset", demo_db, app_db, "--force"), "STAGING is"),
        (("export", demo_db, tmp_path / "also.db", "--force", "--quiet"), "would replace the database itself"),
        (("export", tmp_path / "link.db", demo_db, "--force", "--quiet"), "would replace the database itself"),
        (("export", demo_db, app_db, "--force", "--quiet"), "OUTPUT is"),
        (("transform", export, tmp_path / "export-link.json", "--force"), "OUTPUT is the same file as INPUT"),
        (("transform", export, app_db, "--force"), "OUTPUT is"),
        (("import", export, app_db, "--quiet"), "STAGING is"),
        (("demo", app_db, "--force"), "DB is"),
        (("demo", tmp_path / "app-link.db", "--force"), "DB is"),
        (("backup", tmp_path / "work" / "x.db", "--workdir", work), "file not found"),
    ]
    for args, expected in cases:
        line = refused(capsys, *args)
        assert expected in line, (args, line)
    assert snapshot(tmp_path) == before
    work.mkdir()
    shutil.copyfile(demo_db, work / "bake_tracker.db")
    (work / "old").mkdir()
    shutil.copyfile(demo_db, work / "old" / "x.db")
    for inner in (work / "bake_tracker.db", work / "old" / "x.db"):
        for command in (["backup"], ["switch", "--yes"], ["rollback", "--yes"]):
            line = refused(capsys, command[0], inner, "--workdir", work, *command[1:])
            assert "holds the database" in line, (inner, line)
    assert sorted(p.name for p in work.iterdir()) == ["bake_tracker.db", "old"]
    assert sorted(p.name for p in (work / "old").iterdir()) == ["x.db"]


# -- item: a dry run refuses what the real run refuses ---------------------------------------------------

@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for folder in made:
        unmount(folder)


def _mount(mounts: list[Path], folder: Path, size: int, *, fill_with: Path | None = None) -> Path:
    reason = mount_tmpfs(folder, size)
    if reason:
        pytest.skip(reason)
    mounts.append(folder)
    if fill_with is not None:
        shutil.copyfile(fill_with, folder / fill_with.name)
    return folder


def _read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)


def _case_work_is_a_file(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    (tmp / "work").write_text("not a folder\n", encoding="utf-8")
    return db, tmp / "work", []


def _case_work_under_a_file(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    (tmp / "notes.txt").write_text("a file\n", encoding="utf-8")
    return db, tmp / "notes.txt" / "work", []


def _case_work_read_only(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    folder = _mount(mounts, tmp / "ro", 8 * 1024 * 1024)
    _read_only(folder)
    return db, folder / "work", []


def _case_database_folder_read_only(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    folder = _mount(mounts, tmp / "stick", 32 * 1024 * 1024, fill_with=db)
    _read_only(folder)
    return folder / db.name, tmp / "work", []


def _case_small_work_disk(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    folder = _mount(mounts, tmp / "small", 256 * 1024)
    return db, folder / "work", []


def _case_small_database_disk(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    folder = _mount(mounts, tmp / "stick", db.stat().st_size + 64 * 1024, fill_with=db)
    return folder / db.name, tmp / "work", []


def _case_other_database(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    other = tmp / "other.db"
    shutil.copyfile(db, other)
    Migration(other, tmp / "work", progress=False).backup()
    return db, tmp / "work", []


def _case_other_choice(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    Migration(db, tmp / "work", infer_losses=True, progress=False).backup()
    return db, tmp / "work", []


def _case_changed_since_backup(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    Migration(db, tmp / "work", progress=False).backup()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE production_runs SET notes = 'later' WHERE id = (SELECT min(id) FROM production_runs)")
    return db, tmp / "work", []


def _case_damaged_backup(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    Migration(db, tmp / "work", progress=False).backup()
    with open(tmp / "work" / "backup" / db.name, "r+b") as fh:
        fh.seek(200)
        fh.write(b"x")
    return db, tmp / "work", []


def _case_export_changed(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    migration = Migration(db, tmp / "work", progress=False)
    migration.backup()
    migration.export()
    with open(tmp / "work" / "export_v1.1.json", "a", encoding="utf-8") as fh:
        fh.write(" ")
    return db, tmp / "work", []


def _case_odd_timestamp(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE production_runs SET produced_at = '2024-01-01' "
                     "WHERE id = (SELECT max(id) FROM production_runs)")
    return db, tmp / "work", []


def _case_text_cost(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE production_consumptions SET total_cost = 'abc' "
                     "WHERE id = (SELECT min(id) FROM production_consumptions)")
    return db, tmp / "work", []


def _case_inside(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    inner = tmp / "work" / db.name
    inner.parent.mkdir()
    shutil.copyfile(db, inner)
    return inner, tmp / "work", []


def _case_deep_inside(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    inner = tmp / "work" / "old" / "x.db"
    inner.parent.mkdir(parents=True)
    shutil.copyfile(db, inner)
    return inner, tmp / "work", []


def _case_not_a_database(tmp: Path, db: Path, mounts: list[Path]) -> tuple[Path, Path, list[str]]:
    db.write_text("flour 500 g\n", encoding="utf-8")
    return db, tmp / "work", []


PARITY = {
    "work folder is a file": (_case_work_is_a_file, "is a file, not a folder"),
    "work folder under a file": (_case_work_under_a_file, "which is a file, not a folder"),
    "work folder on a read-only disk": (_case_work_read_only, "cannot create the work folder (Read-only file system)"),
    "database folder read-only": (_case_database_folder_read_only, "the database's folder cannot be written"),
    "work disk too small": (_case_small_work_disk, "not enough free disk: needs"),
    "database disk too small for the switch": (_case_small_database_disk, "not enough free disk beside the database"),
    "work folder of another database": (_case_other_database, "this work folder belongs to"),
    "started with --infer-losses": (_case_other_choice, "started with --infer-losses"),
    "database changed since the backup": (_case_changed_since_backup, "changed since the backup"),
    "backup damaged": (_case_damaged_backup, "checksum does not match its manifest"),
    "export changed since it was written": (_case_export_changed, "changed since it was written"),
    "database inside the work folder": (_case_inside, "holds the database"),
    "database in a subfolder of the work folder": (_case_deep_inside, "holds the database"),
    "not a database": (_case_not_a_database, "not a SQLite database"),
    "a timestamp not as the app stores it": (_case_odd_timestamp, "not a date and time as bake-tracker stores them"),
    "text where the app stores a number": (_case_text_cost, "total_cost"),
}


@pytest.mark.parametrize("case", list(PARITY))
def test_a_dry_run_refuses_what_the_real_run_refuses_with_the_same_line(
    case: str, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mounts: list[Path]
) -> None:
    make, expected = PARITY[case]
    db, work, _ = make(tmp_path, demo_db, mounts)
    before = snapshot(tmp_path)
    dry = refused(capsys, "migrate", db, "--workdir", work, "--dry-run", "--quiet")
    assert snapshot(tmp_path) == before
    real = refused(capsys, "migrate", db, "--workdir", work, "--yes", "--quiet")
    assert snapshot(tmp_path) == before
    assert dry == real
    assert expected in real, real


def test_a_dry_run_of_a_file_as_work_folder_in_a_real_process(demo_db: Path, tmp_path: Path, process_cli) -> None:
    (tmp_path / "A_FILE").write_text("x\n", encoding="utf-8")
    dry = process_cli("migrate", demo_db, "--workdir", tmp_path / "A_FILE", "--dry-run")
    real = process_cli("migrate", demo_db, "--workdir", tmp_path / "A_FILE", "--yes")
    assert dry.returncode == real.returncode == 2
    assert one_line_error(dry.stderr) == one_line_error(real.stderr)
    assert one_line_error(real.stderr) == (
        f"error: {tmp_path / 'A_FILE'}: is a file, not a folder; choose a work folder with --workdir DIR"
    )


def test_the_disk_message_says_the_exact_numbers_and_what_to_free(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mounts: list[Path]
) -> None:
    import re

    db, work, _ = _case_small_work_disk(tmp_path, demo_db, mounts)
    line = refused(capsys, "migrate", db, "--workdir", work, "--yes", "--quiet")
    found = re.search(r"needs ([\d.,]+) MB in (\S+) \(.*\), ([\d.,]+) MB free: free at least ([\d.,]+) MB there", line)
    assert found, line
    needs, folder, free, to_free = (float(found[1]), found[2], float(found[3]), float(found[4]))
    assert folder == str(work.parent)
    assert free == shutil.disk_usage(work.parent).free // 100_000 / 10
    assert to_free == round(needs - free, 1)  # the numbers shown add up
    assert needs > 2 * db.stat().st_size / 1e6 and to_free * 1e6 >= needs * 1e6 - shutil.disk_usage(work.parent).free


def test_after_the_refusal_is_fixed_the_same_command_migrates(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "work").write_text("x\n", encoding="utf-8")
    refused(capsys, "migrate", demo_db, "--workdir", tmp_path / "work", "--yes", "--quiet")
    (tmp_path / "work").unlink()
    code, _, err = run(capsys, "migrate", demo_db, "--workdir", tmp_path / "work", "--yes", "--quiet")
    assert code == 0, err
    assert inspect_database(demo_db).schema_version == "0.7"
