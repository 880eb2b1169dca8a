"""The switch against a program writing to the database at that very moment (issue: the switch race).

A real writer process (tests/app_writer.py) commits rows while a real ``migrate`` reaches its switch,
started at moments spread around the switch, with the work folder on the database's disk and on
another file system (a tmpfs). Whatever the timing, every row the writer committed is in the final
database: the switch refused (the database keeps the row), or the row was written before the
backup (it was migrated), or after the switch (it is in the migrated file). ``migrate`` never says
PASS with a committed row missing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import REPO, migrate_command, mount_tmpfs, one_line_error, phase_reached, unmount

import bakemigrate.switch
from bakemigrate.db import sha256_file
from bakemigrate.demo import demo
from bakemigrate.errors import DatabaseRefused
from bakemigrate.pipeline import Migration
from bakemigrate.tables import detect_schema_version

WRITER = Path(__file__).resolve().parent / "app_writer.py"
#: Seconds after the verify step is recorded at which the writer starts (the switch follows at once).
DELAYS = (0.0, 0.03, 0.1)
#: More moments, for the long trial.
MORE_DELAYS = (0.0, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3)
#: The writer starts the moment the copy beside the database appears (a work folder on another disk).
AT_THE_COPY = -1.0


@pytest.fixture(scope="module")
def race_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo database large enough that copying it to another disk takes a few milliseconds (about 1 MB)."""
    path = tmp_path_factory.mktemp("race") / "source.db"
    demo(path, runs=400, seed=3, progress=False)
    return path


@pytest.fixture
def other_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system than tmp_path: a tmpfs mounted for the test, else /dev/shm."""
    folder = tmp_path / "tmpfs"
    reason = mount_tmpfs(folder, 256 * 1024 * 1024)
    if reason is None:
        yield folder
        unmount(folder)
        return
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip(f"no second file system: {reason}")
    folder = Path(shm / f"bakemigrate-race-{os.getpid()}-{tmp_path.name}")
    folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def committed_names(output: str) -> list[str]:
    """The rows the writer reports as committed."""
    return [f"writer-{line.split()[1]}" for line in output.splitlines() if line.startswith("ok ")]


def names_in(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM inventory_snapshots")}


def race(db: Path, workdir: Path, delay: float, mode: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """One migration with the writer started ``delay`` s after verify is recorded (or, for `AT_THE_COPY`,
    when the switch's copy beside the database appears); returns (migrate, committed)."""
    go = db.with_name("go")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    writer = subprocess.Popen([sys.executable, str(WRITER), str(db), str(go), "150", "0.002", mode],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    migrate = subprocess.Popen(migrate_command(db, workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO, env=env)
    copy = db.with_name(f".{db.name}.switch")
    while migrate.poll() is None:
        try:
            if copy.exists() if delay == AT_THE_COPY else phase_reached(workdir) in ("switch", "finished"):
                break
        except (OSError, ValueError):  # the journal is being replaced at this moment
            pass
        time.sleep(0.0002)
    time.sleep(max(delay, 0))
    go.touch()
    out, err = migrate.communicate(timeout=600)
    written, writer_err = writer.communicate(timeout=120)
    assert writer.returncode == 0, writer_err
    return subprocess.CompletedProcess(migrate.args, migrate.returncode, out, err), committed_names(written)


def check_nothing_lost(db: Path, result: subprocess.CompletedProcess[str], committed: list[str]) -> str:
    """Every committed row is in the database; a PASS means it is the migrated v0.7 file. Returns the outcome."""
    assert not Path(f"{db}-journal").exists()
    missing = sorted(set(committed) - names_in(db), key=lambda n: int(n.split("-")[1]))
    assert missing == [], f"migrate exit {result.returncode}: rows committed by the writer are lost: {missing}"
    with sqlite3.connect(db) as conn:
        version = detect_schema_version(conn, str(db))
    leftover = [p.name for p in db.parent.iterdir() if p.name.startswith(f".{db.name}.")]
    assert leftover == [], leftover
    if result.returncode == 0:
        assert result.stdout.splitlines()[-1].startswith("PASS: ") and version == "0.7", result.stdout
        return "migrated"
    line = one_line_error(result.stderr)
    assert result.returncode == 2 and version == "0.6", line
    assert "changed since the backup" in line or "close bake-tracker first" in line, line
    return "refused"


def trials(source: Path, db_folder: Path, work_folder: Path, mode: str, delays: tuple[float, ...]) -> list[str]:
    outcomes = []
    for i, delay in enumerate(delays):
        folder = db_folder / f"trial{i}"
        folder.mkdir()
        db = folder / "bake_tracker.db"
        shutil.copyfile(source, db)
        result, committed = race(db, work_folder / f"work{i}", delay, mode)
        moment = "at the copy" if delay == AT_THE_COPY else f"{delay * 1000:.0f} ms"
        outcomes.append(f"{moment}: {check_nothing_lost(db, result, committed)}, "
                        f"{len(committed)} rows committed")
    return outcomes


def test_writer_during_the_switch_loses_nothing_same_disk(
    race_source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = trials(race_source, tmp_path, tmp_path, "connected", DELAYS)
    with capsys.disabled():
        print("\nsame disk: " + "; ".join(outcomes))


@pytest.mark.parametrize("direction", ["work folder on a tmpfs", "database on a tmpfs"])
def test_writer_during_the_switch_loses_nothing_across_file_systems(
    direction: str, race_source: Path, tmp_path: Path, other_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_folder, work_folder = (tmp_path, other_disk) if direction.startswith("work") else (other_disk, tmp_path)
    assert db_folder.stat().st_dev != work_folder.stat().st_dev
    outcomes = trials(race_source, db_folder, work_folder, "connected", (AT_THE_COPY, *DELAYS))
    with capsys.disabled():
        print(f"\n{direction}: " + "; ".join(outcomes))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["connected", "fresh"])
@pytest.mark.parametrize("disks", ["same disk", "work folder on a tmpfs", "database on a tmpfs"])
def test_writer_during_the_switch_loses_nothing_at_many_moments(
    mode: str, disks: str, race_source: Path, tmp_path: Path, other_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_folder, work_folder = {"same disk": (tmp_path, tmp_path), "work folder on a tmpfs": (tmp_path, other_disk),
                              "database on a tmpfs": (other_disk, tmp_path)}[disks]
    delays = MORE_DELAYS if disks == "same disk" else (AT_THE_COPY, *MORE_DELAYS)
    outcomes = trials(race_source, db_folder, work_folder, mode, delays)
    with capsys.disabled():
        print(f"\n{disks}, {mode}: " + "; ".join(outcomes))


def test_a_write_slipping_in_at_the_rename_is_put_back(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the replaced file change between the check and the rename (a writer that ignores
    SQLite's locks), the check after the rename finds it, puts that file back and refuses."""
    migration = Migration(demo_db, tmp_path / "work", progress=False)
    migration.backup()
    assert migration.verify().passed
    rename = os.replace

    def write_then_rename(source, target):
        if Path(target) == demo_db:
            monkeypatch.undo()  # once
            with open(demo_db, "r+b") as fh:  # a raw write, under no lock, as the rename happens
                fh.seek(0, 2)
                fh.write(b"\0" * 4096)
        rename(source, target)

    monkeypatch.setattr(bakemigrate.switch.os, "replace", write_then_rename)
    before = sha256_file(demo_db)
    with pytest.raises(DatabaseRefused, match="changed since the backup"):
        migration.switch(confirm=True)
    assert sha256_file(demo_db) != before  # the changed original, with the write, is back in place
    assert demo_db.stat().st_size % 4096 == 0 and detect_schema_version(sqlite3.connect(demo_db), "db") == "0.6"
    assert [p.name for p in demo_db.parent.iterdir() if p.name.startswith(".")] == []
