"""Nothing left behind: a switch that fails on a full disk, a run stopped by SIGTERM or Ctrl+C, and
the temporary files of a run killed outright, which the next run removes (its own names only)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import (
    REPO,
    Reference,
    database_state,
    leftovers,
    migrate_command,
    mount_tmpfs,
    one_line_error,
    remount_tmpfs,
    report_free_disk,
    run_with_crash_point,
    unmount,
)

from bakemigrate.cli import main
from bakemigrate.db import content_digest, sha256_file
from bakemigrate.demo import demo
from bakemigrate.pipeline import Migration


@pytest.fixture(scope="module")
def slow_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Reference]:
    """A demo database whose export takes long enough to be stopped in the middle, and its migration."""
    folder = tmp_path_factory.mktemp("leftovers")
    source = folder / "source.db"
    demo(source, runs=3000, seed=9, progress=False)
    measured = folder / "measured" / "bake_tracker.db"
    measured.parent.mkdir()
    shutil.copyfile(source, measured)
    assert main(["migrate", str(measured), "--workdir", str(measured.parent / "work"), "--yes", "--quiet"]) == 0
    return source, Reference(sha256_file(source), content_digest(measured), 3000)


def hidden_beside(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith("."))


def rerun(db: Path, workdir: Path, ref: Reference, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["migrate", str(db), "--workdir", str(workdir), "--yes", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert database_state(db, ref) == "migrated"


# -- a full disk beside the database at the switch ----------------------------------------------------

@pytest.fixture
def small_db_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "db-disk"
    yield folder
    unmount(folder)


def test_a_full_disk_beside_the_database_at_the_switch_leaves_nothing(
    small_db_disk: Path, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database on a tmpfs with room for itself and half a copy; the work folder on another disk:
    the copy made beside the database for the switch fills the disk (the disk fills after the
    preflight, as when another program writes to it meanwhile)."""
    size = demo_db.stat().st_size
    reason = mount_tmpfs(small_db_disk, size + size // 2)
    if reason:
        pytest.skip(reason)
    db = small_db_disk / "bake_tracker.db"
    shutil.copyfile(demo_db, db)
    before = sha256_file(db)
    workdir = tmp_path / "work"
    capsys.readouterr()
    with monkeypatch.context() as patch:  # the preflight's estimate would refuse this disk up front
        report_free_disk(patch, 10**12)
        code = main(["migrate", str(db), "--workdir", str(workdir), "--yes", "--quiet"])
    line = one_line_error(capsys.readouterr().err)
    assert code == 2
    assert line.startswith(f"error: {small_db_disk}: cannot put the migrated database beside bake_tracker.db "
                           "(not enough free disk; it needs "), line
    assert "nothing was switched" in line
    assert sha256_file(db) == before
    assert hidden_beside(db) == []  # no partial copy filling the disk
    assert shutil.disk_usage(small_db_disk).free > size // 4
    remount_tmpfs(small_db_disk, 64 * 1024 * 1024)
    migrated = tmp_path / "reference.db"
    shutil.copyfile(demo_db, migrated)
    Migration(migrated, tmp_path / "reference-work", progress=False).run(yes=True, echo=lambda text: None)
    rerun(db, workdir, Reference(before, content_digest(migrated), 200), capsys)
    assert hidden_beside(db) == [] and leftovers(workdir) == []


# -- SIGTERM and Ctrl+C ---------------------------------------------------------------------------------

def stop_when(db: Path, workdir: Path, appears: str, signum: int) -> subprocess.CompletedProcess[str]:
    """Start a real ``migrate``, send ``signum`` once a file matching ``appears`` is in the work folder."""
    proc = subprocess.Popen(migrate_command(db, workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if workdir.exists() and any(workdir.glob(appears)):
            proc.send_signal(signum)
            break
        time.sleep(0.001)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize(("signum", "code", "message"), [
    (signal.SIGTERM, 143, "error: stopped (SIGTERM); nothing was switched, re-run to resume"),
    (signal.SIGINT, 130, "error: interrupted; nothing was switched, re-run to resume"),
], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("appears", ["backup/.*.partial", ".export_v1.0.json.*.tmp"], ids=["backup", "export"])
def test_a_signal_stops_the_run_cleanly(
    signum: int, code: int, message: str, appears: str, slow_source: tuple[Path, Reference],
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    source, ref = slow_source
    db, workdir = tmp_path / "bake_tracker.db", tmp_path / "work"
    shutil.copyfile(source, db)
    stopped = stop_when(db, workdir, appears, signum)
    assert stopped.returncode == code, stopped.stderr
    assert one_line_error(stopped.stderr) == message
    assert leftovers(workdir) == []  # the half-written backup or export was removed on the way out
    assert not (workdir / ".lock").exists()
    assert database_state(db, ref) == "original" and hidden_beside(db) == []
    rerun(db, workdir, ref, capsys)


# -- what a run killed outright left ---------------------------------------------------------------------

#: Files that look like bakemigrate's but are not its temporary names: never removed.
DECOYS_IN_WORK = ("notes.tmp", ".export_v1.0.json.tmp", "keep.partial", "export_v1.0.json.abcd1234.tmp",
                  ".export_v1.0.json.ABCD1234.tmp", "backup/.other.db.partial", "backup/my.partial")
DECOYS_BESIDE = (".bake_tracker.db.switch.old", ".bake_tracker.db.restore", "bake_tracker.db.switch",
                 ".other.db.switch", "x.partial")


def test_the_next_run_removes_what_a_killed_run_left_and_nothing_else(
    slow_source: tuple[Path, Reference], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, ref = slow_source
    db, workdir = tmp_path / "bake_tracker.db", tmp_path / "work"
    shutil.copyfile(source, db)
    killed = stop_when(db, workdir, ".export_v1.0.json.*.tmp", signal.SIGKILL)
    assert killed.returncode == -9
    left = leftovers(workdir)
    assert any(name.startswith(".export_v1.0.json.") for name in left), left  # a real half-written export
    (workdir / ".journal.json.k3j9x0q2.tmp").write_text('{"steps": {')  # as a kill mid-journal leaves it
    (workdir / "backup" / ".bake_tracker.db.partial").write_bytes(b"SQLite format 3\0half")
    Path(f"{db.parent / '.bake_tracker.db.switch'}").write_bytes(b"SQLite format 3\0half")
    decoys = {}
    for name in DECOYS_IN_WORK:
        (workdir / name).parent.mkdir(exist_ok=True)
        (workdir / name).write_text(name)
        decoys[workdir / name] = name
    for name in DECOYS_BESIDE:
        (tmp_path / name).write_text(name)
        decoys[tmp_path / name] = name
    code = main(["migrate", str(db), "--workdir", str(workdir), "--dry-run"])
    assert code == 0 and set(leftovers(workdir)) >= set(left)  # a dry run changes nothing
    rerun(db, workdir, ref, capsys)
    assert [p for p in leftovers(workdir) if p not in DECOYS_IN_WORK] == []
    assert not (tmp_path / ".bake_tracker.db.switch").exists()
    assert {path: path.read_text() for path in decoys} == decoys


def test_a_switch_copy_left_by_a_kill_is_removed(
    slow_source: tuple[Path, Reference], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed inside the switch with the work folder on another file system: the copy beside the
    database stays (nothing can remove it then); the next run removes it and finishes."""
    source, ref = slow_source
    other = tmp_path / "other"
    reason = mount_tmpfs(other, 256 * 1024 * 1024)
    if reason:
        pytest.skip(reason)
    try:
        db, workdir = tmp_path / "bake_tracker.db", other / "work"
        shutil.copyfile(source, db)
        killed = run_with_crash_point("switch: checked, not renamed", "migrate", db, "--workdir", workdir,
                                      "--yes", "--quiet")
        assert killed.returncode == -9, killed.stderr
        assert hidden_beside(db) == [".bake_tracker.db.switch"]
        assert database_state(db, ref) == "original"
        rerun(db, workdir, ref, capsys)
        assert hidden_beside(db) == []
    finally:
        unmount(other)
