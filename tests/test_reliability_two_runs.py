"""Two bakemigrate runs at once on one work folder, or on one database through two work folders.

Real processes: the second run is refused with one line naming the first one's pid, exit 2, before
it writes anything; the first run finishes its migration exactly. Started at the same instant, any
number of times, one migrates and the other is refused or finds the work done: never a traceback,
a broken work folder, or a database in between.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_helpers import REPO, Reference, artefact_problems, database_state, migrate_command, one_line_error

from bakemigrate.cli import main
from bakemigrate.db import content_digest, sha256_file
from bakemigrate.demo import demo
from bakemigrate.lock import database_lock_path


@pytest.fixture(scope="module")
def long_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Reference]:
    """A demo database whose migration takes a few seconds, and what its migration gives."""
    folder = tmp_path_factory.mktemp("two-runs")
    source = folder / "source.db"
    demo(source, runs=3000, seed=5, progress=False)
    measured = folder / "measured.db"
    shutil.copyfile(source, measured)
    assert main(["migrate", str(measured), "--workdir", str(folder / "work"), "--yes", "--quiet"]) == 0
    return source, Reference(sha256_file(source), content_digest(measured), 3000)


def start(db: Path, workdir: Path, *extra: str) -> subprocess.Popen[str]:
    command = [*migrate_command(db, workdir), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_lock(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until ``proc`` has written its pid into the lock file ``path``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if path.read_text().split("\n")[0] == str(proc.pid):
                return
        except OSError:
            pass
        time.sleep(0.005)
    pytest.fail(f"{path} never named pid {proc.pid} (exit {proc.poll()})")


def finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def last_line(out: str) -> str:
    """The last line a command printed (the one a script reads)."""
    lines = out.splitlines()
    return lines[-1] if lines else ""


@pytest.mark.parametrize("second", ["migrate", "migrate --dry-run", "backup", "switch", "rollback"])
def test_a_second_run_on_the_same_work_folder_is_refused(
    second: str, long_source: tuple[Path, Reference], tmp_path: Path
) -> None:
    source, ref = long_source
    db, workdir = tmp_path / "bake_tracker.db", tmp_path / "work"
    shutil.copyfile(source, db)
    first = start(db, workdir)
    wait_for_lock(workdir / ".lock", first)
    command, *flags = second.split()
    yes = ["--yes"] if command in ("switch", "rollback") else []
    args = [command, str(db), "--workdir", str(workdir), *flags, *yes]
    done = subprocess.run([sys.executable, "-m", "bakemigrate", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    still_running = first.poll() is None
    code, out, err = finished(first)
    assert still_running, "the first run ended before the second was refused: make the database larger"
    assert done.returncode == 2, done.stderr
    line = one_line_error(done.stderr)
    assert line.startswith(f"error: work folder {workdir} is in use by another bakemigrate (pid {first.pid}")
    assert code == 0 and last_line(out).startswith("PASS: "), err
    assert database_state(db, ref) == "migrated"
    assert artefact_problems(db, workdir) == []
    assert not (workdir / ".lock").exists()


def test_a_second_work_folder_on_the_same_database_is_refused(
    long_source: tuple[Path, Reference], tmp_path: Path
) -> None:
    source, ref = long_source
    db = tmp_path / "bake_tracker.db"
    shutil.copyfile(source, db)
    first = start(db, tmp_path / "work")
    wait_for_lock(database_lock_path(db), first)
    second = subprocess.run(migrate_command(db, tmp_path / "other-work"), capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    code, out, err = finished(first)
    assert second.returncode == 2, second.stderr
    line = one_line_error(second.stderr)
    assert line.startswith(f"error: {db} is in use by another bakemigrate (pid {first.pid}, work folder "
                           f"{tmp_path / 'work'})")
    assert not (tmp_path / "other-work").exists()  # refused before anything was written
    assert code == 0 and last_line(out).startswith("PASS: "), err
    assert database_state(db, ref) == "migrated"
    assert not database_lock_path(db).exists() and not database_lock_path(source).exists()


def test_two_runs_started_together_never_break_anything(demo_template: Path, tmp_path: Path) -> None:
    """Started at the same instant (five times, on one work folder and on two): one migrates; the other
    is refused in one line or finds the migration done; the work folder always finishes."""
    for i in range(5):
        folder = tmp_path / f"round{i}"
        folder.mkdir()
        db = folder / "bake_tracker.db"
        shutil.copyfile(demo_template, db)
        workdirs = (folder / "work", folder / ("work" if i % 2 else "work2"))
        both = [start(db, w) for w in workdirs]
        results = [finished(p) for p in both]
        for code, out, err in results:
            assert "Traceback" not in err and "no such table" not in err and "disk I/O" not in err, err
            if code == 2:
                assert "is in use by another bakemigrate (pid" in one_line_error(err)
            else:
                assert code == 0 and (last_line(out).startswith("PASS: ") or last_line(out).endswith(": nothing to do"))
        assert sum(last_line(out).startswith("PASS: ") for _, out, _ in results) == 1, results
        again = subprocess.run(migrate_command(db, workdirs[0]), capture_output=True, text=True, cwd=REPO)
        assert again.returncode in (0, 2) and "Traceback" not in again.stderr, again.stderr
        if again.returncode == 2:
            one_line_error(again.stderr)
        else:
            assert last_line(again.stdout) == f"{db} is already migrated to bake-tracker v0.7: nothing to do" or \
                last_line(again.stdout) == f"{db} is already at bake-tracker v0.7: nothing to do", again.stdout


# -- the notebook run by itself holds the same locks ---------------------------------------------------

def notebook_command(db: Path | None, workdir: Path, output: Path) -> list[str]:
    """The real ``notebook`` command line (no ``db``: a rehearsal on a demo database)."""
    on = ["--db", str(db)] if db is not None else []
    return [sys.executable, "-m", "bakemigrate", "notebook", *on, "--workdir", str(workdir), "--output", str(output)]


def refused_while(first: subprocess.Popen[str], command: list[str], workdir: Path) -> None:
    """``command`` run to its end while ``first`` runs: refused with the `in use` line naming ``first``."""
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert first.poll() is None, "the first run ended before the second was refused: make the database larger"
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = one_line_error(done.stderr)
    assert line.startswith(f"error: work folder {workdir} is in use by another bakemigrate (pid {first.pid})"), line


def test_a_notebook_run_while_migrate_runs_is_refused(long_source: tuple[Path, Reference], tmp_path: Path) -> None:
    source, ref = long_source
    db, workdir, record = tmp_path / "bake_tracker.db", tmp_path / "work", tmp_path / "record" / "record.ipynb"
    shutil.copyfile(source, db)
    first = start(db, workdir)
    wait_for_lock(workdir / ".lock", first)
    refused_while(first, notebook_command(db, workdir, record), workdir)
    code, out, err = finished(first)
    assert code == 0 and last_line(out).startswith("PASS: "), err
    assert not (tmp_path / "record").exists()  # refused before anything was written
    assert database_state(db, ref) == "migrated" and artefact_problems(db, workdir) == []


def test_while_a_notebook_runs_a_second_notebook_and_migrate_are_refused(
    long_source: tuple[Path, Reference], tmp_path: Path
) -> None:
    """The notebook's own run holds the database and the work folder from start to end, and its kernel
    (another process) runs every step under those locks: the first run still migrates exactly."""
    source, ref = long_source
    db, workdir = tmp_path / "bake_tracker.db", tmp_path / "work"
    shutil.copyfile(source, db)
    db_lock = database_lock_path(db)
    first = subprocess.Popen(notebook_command(db, workdir, tmp_path / "first.ipynb"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO)
    wait_for_lock(db_lock, first)
    refused_while(first, notebook_command(db, workdir, tmp_path / "second.ipynb"), workdir)
    refused_while(first, migrate_command(db, workdir), workdir)
    code, out, err = finished(first)
    assert code == 0 and last_line(out).startswith(f"PASS: {db} migrated to bake-tracker v0.7"), (out, err)
    assert not (tmp_path / "second.ipynb").exists()
    assert database_state(db, ref) == "migrated" and artefact_problems(db, workdir) == []
    assert not db_lock.exists() and not (workdir / ".lock").exists()


def test_two_notebook_rehearsals_on_one_work_folder_meet_the_lock(tmp_path: Path) -> None:
    """A rehearsal holds its work folder (made at once) while its kernel makes and migrates the demo database."""
    workdir = tmp_path / "rehearsal"
    first = subprocess.Popen(notebook_command(None, workdir, tmp_path / "first.ipynb"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO)
    wait_for_lock(workdir / ".lock", first)
    refused_while(first, notebook_command(None, workdir, tmp_path / "second.ipynb"), workdir)
    code, out, err = finished(first)
    assert code == 0 and last_line(out).startswith("PASS: "), (out, err)
    assert not (tmp_path / "second.ipynb").exists() and not (workdir / ".lock").exists()


def test_a_run_keeps_its_report_before_it_lets_go_of_the_work_folder(
    demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report of a migrate is written under its locks: a second run started while it is being
    written is refused (exit 2, naming the pid), never finds the work folder free and removes the
    half-written report as a leftover."""
    import bakemigrate.terminal

    db, workdir = tmp_path / "bake_tracker.db", tmp_path / "work"
    shutil.copyfile(demo_template, db)
    keep = bakemigrate.terminal.write_reports
    second: list[tuple[int, str, str]] = []

    def write_while_another_starts(folder: Path, text: str, verification: object) -> list[Path]:
        second.append(finished(start(db, workdir)))
        return keep(folder, text, verification)

    monkeypatch.setattr(bakemigrate.terminal, "write_reports", write_while_another_starts)
    assert main(["migrate", str(db), "--workdir", str(workdir), "--yes", "--quiet"]) == 0
    [(code, _, err)] = second
    assert code == 2 and f"is in use by another bakemigrate (pid {os.getpid()}" in one_line_error(err), err
    report = (workdir / "report.txt").read_text()
    assert report.startswith("verification:\n") and "✓ integrity: integrity_check: ok" in report
    assert not [p for p in workdir.iterdir() if p.name.endswith(".tmp")]
