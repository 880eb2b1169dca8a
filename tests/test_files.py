"""bakemigrate.files: a file is written beside its target and renamed over it, or it is not there at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bakemigrate.errors import MigrationError
from bakemigrate.files import (
    SIDECAR_SUFFIXES,
    TEMPORARY_NAME,
    has_sidecar_files,
    partial_path,
    remove_sidecar_files,
    rename_over,
    sidecar_paths,
    temporary_beside,
)


def test_a_temporary_file_renamed_over_its_target_replaces_it(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("old")
    with temporary_beside(target) as tmp:
        assert tmp.parent == tmp_path and TEMPORARY_NAME.fullmatch(tmp.name).group("target") == "report.txt"
        tmp.write_text("new")
        rename_over(tmp, target)
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.txt"]


def test_a_fresh_temporary_file_has_the_permissions_of_a_normal_file(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        with temporary_beside(tmp_path / "x.json") as tmp:
            assert stat.S_IMODE(tmp.stat().st_mode) == 0o644
    finally:
        os.umask(umask)


def test_a_failure_before_the_rename_leaves_the_target_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "staging.db"
    target.write_text("old")
    with pytest.raises(RuntimeError), temporary_beside(target) as tmp:
        tmp.write_text("half")
        Path(f"{tmp}-journal").write_text("SQLite's journal")
        raise RuntimeError("the disk is full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["staging.db"]


def test_a_fixed_name_left_by_a_killed_run_is_removed_first_and_after(tmp_path: Path) -> None:
    target = tmp_path / "bake_tracker.db"
    left = partial_path(target)
    assert left.name == ".bake_tracker.db.partial"
    left.write_text("half a copy")
    Path(f"{left}-journal").write_text("its journal")
    with temporary_beside(target, name=left) as tmp:
        assert tmp == left and not tmp.exists() and not Path(f"{tmp}-journal").exists()
        tmp.write_text("a new copy")
    assert list(tmp_path.iterdir()) == []  # never renamed: removed


def test_a_folder_that_cannot_be_written_is_one_error_line(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match=r"^.*/missing/x\.json: cannot write in .*/missing \(No such file"):
        with temporary_beside(tmp_path / "missing" / "x.json"):
            pass


def test_the_sidecar_files_are_removed_and_nothing_else(tmp_path: Path) -> None:
    db = tmp_path / "staging.db"
    for path in [db, *sidecar_paths(db), tmp_path / "staging.db-other", tmp_path / "other.db-wal"]:
        path.write_text("x")
    assert [p.name for p in sidecar_paths(db)] == ["staging.db" + suffix for suffix in SIDECAR_SUFFIXES]
    remove_sidecar_files(db, ("-wal", "-shm"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other.db-wal", "staging.db", "staging.db-journal", "staging.db-other"
    ]
    assert has_sidecar_files(db, ("-journal",)) and has_sidecar_files(db)
    assert not has_sidecar_files(db, ("-wal", "-shm"))
    remove_sidecar_files(db, with_file=True)
    remove_sidecar_files(db, with_file=True)  # none there: no error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db-wal", "staging.db-other"]
    assert not has_sidecar_files(db)
