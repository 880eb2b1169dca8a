"""Unit tests of `bakemigrate.lock`: what the locks write, where they live, re-entry, and the refusal of a holder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bakemigrate.errors import MigrationError
from bakemigrate.lock import (
    LENT_BY,
    LOCK_NAME,
    database_lock_path,
    hold,
    hold_database,
    holds,
    lend_to_children,
    try_lock,
)

fcntl = pytest.importorskip("fcntl")  # another process's lock is an flock here


@contextmanager
def held_by_another(path: Path, text: str) -> Iterator[None]:
    """``path`` locked on a descriptor of its own (as another process's lock is), ``text`` written in it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, text.encode("utf-8"))
        yield
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def test_hold_writes_the_pid_in_both_lock_files_and_removes_them_after(demo_db: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    db_lock = database_lock_path(demo_db)
    with hold(workdir, demo_db):
        assert holds(workdir) is True
        assert (workdir / LOCK_NAME).read_text(encoding="utf-8") == f"{os.getpid()}\n\n"
        assert db_lock.read_text(encoding="utf-8") == f"{os.getpid()}\n{workdir}\n"
    assert holds(workdir) is False
    assert not (workdir / LOCK_NAME).exists() and not db_lock.exists()
    assert workdir.is_dir()


def test_hold_is_re_entrant_in_one_process(demo_db: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    with hold(workdir, demo_db):
        with hold(workdir, demo_db):
            assert holds(workdir) is True
        assert holds(workdir) is True
        assert (workdir / LOCK_NAME).exists()
    assert holds(workdir) is False


def test_database_lock_path_is_one_file_for_every_name_of_the_database(demo_db: Path, tmp_path: Path) -> None:
    link = tmp_path / "another name.db"
    os.link(demo_db, link)
    st = demo_db.stat()
    expected = Path(tempfile.gettempdir()) / f"bakemigrate-{st.st_dev}-{st.st_ino}.lock"
    assert database_lock_path(demo_db) == database_lock_path(link) == database_lock_path(tmp_path / "." / link.name)
    assert database_lock_path(demo_db) == expected


def test_a_database_held_by_another_run_is_refused_naming_its_pid_and_folder(demo_db: Path, tmp_path: Path) -> None:
    with held_by_another(database_lock_path(demo_db), "4242\n/elsewhere/work\n"):
        with pytest.raises(MigrationError) as info:
            with hold_database(demo_db, tmp_path / "work"):
                pytest.fail("the database was held by another run")
    assert str(info.value) == (
        f"{demo_db} is in use by another bakemigrate (pid 4242, work folder /elsewhere/work); "
        "wait until it ends, or stop it, then run again"
    )
    assert not (tmp_path / "work").exists()


def test_a_work_folder_held_by_another_run_is_refused_naming_its_pid(demo_db: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    with held_by_another(workdir / LOCK_NAME, "4242\n\n"):
        with pytest.raises(MigrationError) as info:
            with hold(workdir, demo_db):
                pytest.fail("the work folder was held by another run")
    assert str(info.value) == (
        f"work folder {workdir} is in use by another bakemigrate (pid 4242); "
        "wait until it ends, or stop it, then run again"
    )
    assert holds(workdir) is False


def test_try_lock_refuses_a_second_exclusive_lock_and_shares_a_shared_one(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text("", encoding="utf-8")
    first, second = os.open(path, os.O_RDWR), os.open(path, os.O_RDWR)
    try:
        assert try_lock(first, shared=True) is True
        assert try_lock(second, shared=True) is True
        assert try_lock(second) is False  # the first still shares it
        os.close(first)
        first = os.open(path, os.O_RDWR)
        assert try_lock(second) is True
        assert try_lock(first) is False
    finally:
        os.close(first)
        os.close(second)


def test_lend_to_children_names_this_process_and_leaves_the_given_environment() -> None:
    env = {"PATH": "/usr/bin"}
    assert lend_to_children(env) == {"PATH": "/usr/bin", LENT_BY: str(os.getpid())}
    assert env == {"PATH": "/usr/bin"}
