"""Helpers of the reliability tests: what state a database and a work folder are in after a fault.

A fault (a killed process, a full disk, an exception) may leave the work folder anywhere between two
steps. These helpers state what must hold whatever the moment: the database is the untouched
original or the complete migrated one, and every artefact the journal or the manifest vouches for
still has the checksum recorded for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bakemigrate.db import content_digest, inspect_database, sha256_file

REPO = Path(__file__).resolve().parents[1]
CRASH_RUNNER = Path(__file__).resolve().parent / "crash_runner.py"
PHASES = ("startup", "backup", "export", "transform", "staging", "import", "verify", "switch", "finished")


def report_free_disk(monkeypatch: pytest.MonkeyPatch, free_bytes: int) -> None:
    """Make every file system say it has ``free_bytes`` free (through `os.statvfs`, which
    `shutil.disk_usage` reads), whatever room it really has: a disk that fills after the preflight."""
    real = os.statvfs

    def statvfs(path: str | os.PathLike[str]) -> os.statvfs_result:
        fields = list(real(path))  # f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, ...
        blocks = free_bytes // fields[1]
        fields[2:5] = [max(fields[2], blocks), blocks, blocks]
        return os.statvfs_result(fields)

    monkeypatch.setattr(os, "statvfs", statvfs)


@dataclass(frozen=True)
class Reference:
    """A database before migration and what its migration must produce."""

    original_sha256: str
    migrated_digest: str
    runs: int


def journal_steps(workdir: Path) -> dict[str, dict]:
    """The steps recorded in ``workdir/journal.json`` (empty when there is none)."""
    journal = workdir / "journal.json"
    if not journal.exists():
        return {}
    return json.loads(journal.read_text(encoding="utf-8"))["steps"]


def phase_reached(workdir: Path) -> str:
    """The step a migration was in, judged from what its work folder holds."""
    if not workdir.exists():
        return "startup"
    if not (workdir / "backup" / "manifest.json").exists():
        return "backup"
    steps = journal_steps(workdir)
    for step, phase in (
        ("backup", "backup"), ("export", "export"), ("transform", "transform"), ("reset", "staging"),
        ("import", "import"), ("verify", "verify"), ("switch", "switch"),
    ):
        if step not in steps:
            return phase
    return "finished"


def database_state(db: Path, ref: Reference) -> str:
    """``original`` or ``migrated``; raise AssertionError for anything in between."""
    assert db.exists(), f"{db} is missing"
    for sidecar in ("-journal", "-wal"):
        assert not Path(f"{db}{sidecar}").exists(), f"{db}{sidecar} left beside the database"
    if sha256_file(db) == ref.original_sha256:
        return "original"
    info = inspect_database(db)
    assert info.schema_version == "0.7", f"{db} changed but is not v0.7"
    assert info.runs == ref.runs, f"{db} has {info.runs} runs, expected {ref.runs}"
    assert content_digest(db) == ref.migrated_digest, f"{db} is v0.7 but not the verified migration"
    return "migrated"


def artefact_problems(db: Path, workdir: Path) -> list[str]:
    """Every artefact vouched for by the manifest or the journal whose checksum does not match."""
    problems: list[str] = []
    manifest_path = workdir / "backup" / "manifest.json"
    steps = journal_steps(workdir)
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        backup = workdir / "backup" / db.name
        partial = backup.with_name(f".{backup.name}.partial")
        present = backup if backup.exists() else partial  # a rename the next run finishes
        if not present.exists():
            problems.append("the backup named by the manifest is missing")
        elif sha256_file(present) != manifest["sha256"]:
            problems.append(f"{present.name}: checksum differs from the manifest")
        if "backup" in steps and steps["backup"]["sha256"] != manifest["sha256"]:
            problems.append("journal and manifest disagree on the backup")
    for step, name in (("export", "export_v1.0.json"), ("transform", "export_v1.1.json")):
        path = workdir / name
        if step in steps and path.exists() and sha256_file(path) != steps[step]["sha256"]:
            problems.append(f"{name}: checksum differs from the journal")
    staging = workdir / "staging.db"
    if "verify" in steps and "switch" not in steps and staging.exists():
        if sha256_file(staging) != steps["verify"]["staging_sha256"]:
            problems.append("staging.db changed after it was verified")
    return problems


def migrate_command(db: Path, workdir: Path) -> list[str]:
    """The real ``migrate`` command line."""
    return [sys.executable, "-m", "bakemigrate", "migrate", str(db), "--workdir", str(workdir), "--yes", "--quiet"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def timed_migration(db: Path, workdir: Path) -> tuple[float, list[tuple[float, str]]]:
    """Run a whole migration; return its duration and when each output line appeared."""
    start = time.monotonic()
    proc = subprocess.Popen(
        migrate_command(db, workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO, env=_env(),
    )
    lines = [(time.monotonic() - start, line.rstrip()) for line in proc.stdout]
    err = proc.stderr.read()
    assert proc.wait(timeout=600) == 0, err
    return time.monotonic() - start, lines


def kill_migration_after(db: Path, workdir: Path, delay: float) -> int:
    """Start ``migrate`` and SIGKILL it after ``delay`` seconds; return its exit status."""
    proc = subprocess.Popen(
        migrate_command(db, workdir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, env=_env(),
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    return proc.returncode


def kill_migration_in(db: Path, workdir: Path, phase: str, delay: float) -> int:
    """Start ``migrate``, wait until its work folder shows ``phase``, SIGKILL it ``delay`` s later."""
    proc = subprocess.Popen(
        migrate_command(db, workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO, env=_env(),
    )
    target = PHASES.index(phase)
    while proc.poll() is None:
        try:
            reached = PHASES.index(phase_reached(workdir))
        except (OSError, ValueError):  # the journal is being replaced at this very moment
            continue
        if reached >= target:
            time.sleep(delay)
            break
        time.sleep(0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=60)


def run_with_crash_point(point: str, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a real process that SIGKILLs itself at the named crash point."""
    return subprocess.run(
        [sys.executable, str(CRASH_RUNNER), point, *map(str, args)],
        capture_output=True, text=True, cwd=REPO, env=_env(), timeout=600,
    )


def one_line_error(stderr: str) -> str:
    """The single ``error: ...`` line of a refusal (asserting there is exactly one, no traceback)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def mount_tmpfs(folder: Path, size_bytes: int, *, readonly: bool = False) -> str | None:
    """Mount a tmpfs of ``size_bytes`` on ``folder``; return why it cannot be done, or None."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "mounting a small filesystem needs root"
    options = f"size={max(size_bytes // 1024, 4)}k" + (",ro" if readonly else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    return None if done.returncode == 0 else f"cannot mount a tmpfs here: {done.stderr.strip()}"


def remount_tmpfs(folder: Path, size_bytes: int) -> None:
    """Make the tmpfs on ``folder`` writable with room for ``size_bytes``."""
    subprocess.run(
        ["mount", "-o", f"remount,rw,size={size_bytes // 1024}k", str(folder)], check=True, capture_output=True
    )


def unmount(folder: Path) -> None:
    """Unmount ``folder`` (lazily, so an open file cannot keep the test's mount alive)."""
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def leftovers(workdir: Path) -> list[str]:
    """Temporary or half-written files left in ``workdir`` (none may be)."""
    if not workdir.exists():
        return []
    return sorted(
        str(p.relative_to(workdir)) for p in workdir.rglob("*")
        if p.name.endswith((".tmp", ".partial", "-journal", ".partial-journal")) or ".tmp" in p.name
    )
