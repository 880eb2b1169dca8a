"""Guarantee 12: the database file stays the baker's file. A database reached through a symbolic
link is migrated where it lies and the link stays a link; the backup, the migrated database and the
rolled-back one keep the original's permissions (a private 0600 file stays 0600) and its owner."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from bakemigrate.cli import main
from bakemigrate.db import content_digest, inspect_database, sha256_file


def migrate(capsys: pytest.CaptureFixture[str], *args: str | os.PathLike[str]) -> int:
    capsys.readouterr()
    code = main([str(a) for a in args])
    assert code == 0, capsys.readouterr().err
    return code


@pytest.mark.parametrize("link", ["absolute", "relative", "a link to a link"])
def test_a_symlinked_database_is_migrated_where_it_lies_and_the_link_stays(
    link: str, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "disk" / "bakery.db"
    real.parent.mkdir()
    shutil.move(demo_db, real)
    original, content = sha256_file(real), content_digest(real)
    app = tmp_path / "app"
    app.mkdir()
    db = app / "bake_tracker.db"
    if link == "absolute":
        db.symlink_to(real)
    elif link == "relative":
        db.symlink_to(Path("..") / "disk" / "bakery.db")
    else:
        (tmp_path / "middle.db").symlink_to(real)
        db.symlink_to(tmp_path / "middle.db")
    target = os.readlink(db)
    work = tmp_path / "work"
    migrate(capsys, "migrate", db, "--workdir", work, "--dry-run", "--quiet")
    assert sha256_file(real) == original and os.readlink(db) == target
    migrate(capsys, "migrate", db, "--workdir", work, "--yes", "--quiet")
    assert db.is_symlink() and os.readlink(db) == target  # the link is kept, pointing where it did
    assert inspect_database(real).schema_version == "0.7"  # the file it points to is migrated
    assert sorted(p.name for p in app.iterdir()) == ["bake_tracker.db"]
    journal = json.loads((work / "journal.json").read_text(encoding="utf-8"))
    manifest = json.loads((work / "backup" / "manifest.json").read_text(encoding="utf-8"))
    assert journal["steps"]["start"]["db"] == str(real.resolve())
    assert Path(manifest["path"]) == work / "backup" / "bakery.db"
    assert manifest["original_sha256"] == original
    migrate(capsys, "rollback", db, "--workdir", work, "--yes")
    assert db.is_symlink() and os.readlink(db) == target
    assert sha256_file(real) == manifest["sha256"] and content_digest(real) == content  # the target is restored
    assert sorted(p.name for p in app.iterdir()) == ["bake_tracker.db"]


def test_switch_and_rollback_step_commands_keep_the_link(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real.db"
    shutil.move(demo_db, real)
    db = tmp_path / "bake_tracker.db"
    db.symlink_to(real)
    work = tmp_path / "work"
    migrate(capsys, "backup", db, "--workdir", work)
    assert (work / "backup" / "real.db").exists()
    migrate(capsys, "export", db, work / "export_v1.0.json", "--quiet")
    migrate(capsys, "transform", work / "export_v1.0.json", work / "export_v1.1.json")
    migrate(capsys, "reset", db, work / "staging.db")
    migrate(capsys, "import", work / "export_v1.1.json", work / "staging.db", "--quiet")
    migrate(capsys, "switch", db, "--workdir", work, "--yes")
    assert db.is_symlink() and inspect_database(real).schema_version == "0.7"


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_backup_migrated_and_rolled_back_files_keep_the_mode_and_owner(
    mode: int, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.chmod(demo_db, mode)
    owner = (os.getuid(), os.getgid())
    if os.geteuid() == 0:  # root may give the file to another user, as a baker's own file would be
        owner = (1234, 2345)
        os.chown(demo_db, *owner)
    expected = (*owner, mode)
    assert owner_and_mode(demo_db) == expected
    work = tmp_path / "work"
    old_umask = os.umask(0o022)
    try:
        migrate(capsys, "migrate", demo_db, "--workdir", work, "--yes", "--quiet")
        assert owner_and_mode(work / "backup" / demo_db.name) == expected
        assert owner_and_mode(demo_db) == expected
        assert inspect_database(demo_db).schema_version == "0.7"
        migrate(capsys, "rollback", demo_db, "--workdir", work, "--yes")
        assert owner_and_mode(demo_db) == expected
        assert inspect_database(demo_db).schema_version == "0.6"
        kept = [p for p in work.iterdir() if p.name.startswith("before-rollback-")]
        assert [owner_and_mode(p)[2] for p in kept] == [mode]
    finally:
        os.umask(old_umask)


@pytest.mark.parametrize(("mode", "folder_mode"), [(0o600, 0o700), (0o640, 0o750), (0o644, 0o755)])
def test_the_work_folder_it_creates_is_as_private_as_the_database(
    mode: int, folder_mode: int, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The work folder holds all the data (backup, exports, staging copy): nobody else may read it."""
    os.chmod(demo_db, mode)
    work = tmp_path / "work"
    old_umask = os.umask(0o022)
    try:
        migrate(capsys, "migrate", demo_db, "--workdir", work, "--yes", "--quiet")
        migrate(capsys, "backup", demo_db, "--workdir", tmp_path / "step-by-step")
    finally:
        os.umask(old_umask)
    for folder in (work, tmp_path / "step-by-step"):
        assert stat.S_IMODE(folder.stat().st_mode) == folder_mode, folder
    existing = tmp_path / "mine"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    migrate(capsys, "backup", demo_db, "--workdir", existing)
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # a folder you made yourself is left as it is
