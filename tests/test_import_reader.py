"""A large document is read and checked in a second process while the first inserts its rows.

The second process (``python -m bakemigrate.importer``) must give the very rows, report and
refusals of the import in one process; a reader that stops is one clear error, nothing imported.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

import bakemigrate.importer as importer
from bakemigrate.errors import InvalidDocument, MigrationError
from bakemigrate.exporter import export_and_transform
from bakemigrate.formats import encode_document
from bakemigrate.reset import reset

TABLES = ("production_runs", "production_consumptions", "production_losses")


def rows_of(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        found = {t: conn.execute(f"SELECT *, typeof(created_at) FROM {t} ORDER BY id").fetchall() for t in TABLES}
    conn.close()
    return found


def imported(document: Path, source: Path, staging: Path, *, beside: bool, trusted: bool,
             monkeypatch: pytest.MonkeyPatch) -> tuple[object, dict[str, list[tuple]]]:
    """The outcome of one import (its report, or the refusal's text) and the rows it left, at one fixed time."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # the time given to rows the document carries none for
            return datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=tz)

    monkeypatch.setattr(importer, "datetime", Clock)
    monkeypatch.setattr(importer, "WORKER_BYTES", 0 if beside else 1 << 60)
    reset(source, staging)
    try:
        report = importer.import_(document, staging, progress=False, trusted=trusted)
        outcome: object = (report.runs, report.consumptions, report.losses, report.skipped, report.warnings)
    except InvalidDocument as exc:
        outcome = str(exc)
    return outcome, rows_of(staging)


@pytest.fixture
def documents(demo_db: Path, tmp_path: Path) -> dict[str, Path]:
    """bakemigrate's own v1.1 export (with inferred losses), the app-style copy of it, and two broken ones."""
    v11 = tmp_path / "v1.1.json"
    export_and_transform(demo_db, tmp_path / "v1.0.json", v11, infer_losses=True, progress=False)
    doc = json.loads(v11.read_bytes())
    runs = doc["production_runs"]
    app_style = [{k: v for k, v in run.items() if k not in ("id", "created_at", "updated_at")} for run in runs]
    unknown = [*runs[:5], {**runs[5], "recipe_uuid": "00000000-0000-4000-8000-000000000000"}, *runs[6:]]
    conflict = [*runs, {**runs[7], "notes": "another"}, runs[2]]
    made = {"own": v11}
    for name, listed in (("app style", app_style), ("unknown recipe", unknown), ("conflict", conflict)):
        made[name] = tmp_path / f"{name}.json"
        made[name].write_bytes(encode_document({**doc, "production_runs": listed}))
    return made


@pytest.mark.parametrize("name", ["own", "app style", "unknown recipe", "conflict"])
@pytest.mark.parametrize("trusted", [False, True])
def test_the_reader_process_gives_the_import_of_one_process(name: str, trusted: bool, documents, demo_db: Path,
                                                             tmp_path: Path, monkeypatch) -> None:
    document = documents[name]
    alone = imported(document, demo_db, tmp_path / "alone.db", beside=False, trusted=trusted, monkeypatch=monkeypatch)
    beside = imported(document, demo_db, tmp_path / "beside.db", beside=True, trusted=trusted,
                      monkeypatch=monkeypatch)
    assert beside == alone
    outcome, rows = beside
    if name in ("own", "app style"):
        assert outcome[0] == 200 and len(rows["production_runs"]) == 200 and rows["production_losses"]
    else:
        assert isinstance(outcome, str) and "nothing was imported" in outcome
        assert all(not found for found in rows.values())


def readers() -> list[int]:
    """The reader processes this process started (from /proc: their parent and their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"bakemigrate.importer" in command:
            found.append(int(entry.name))
    return found


def test_a_reader_that_stops_is_one_error_and_nothing_is_imported(documents, demo_db: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    staging = tmp_path / "staging.db"
    reset(demo_db, staging)
    monkeypatch.setattr(importer, "WORKER_BYTES", 0)
    monkeypatch.setattr(importer, "BATCH_ROWS", 50)
    real = importer._inserter

    def killing_the_reader(conn, advance):
        write = real(conn, advance)

        def first_batch_then_kill(table: str, rows: list) -> None:
            write(table, rows)
            for pid in readers():
                os.kill(pid, signal.SIGKILL)

        return first_batch_then_kill

    monkeypatch.setattr(importer, "_inserter", killing_the_reader)
    with pytest.raises(MigrationError, match=r"the import's reader stopped \(exit code -9\); nothing was imported"):
        importer.import_(documents["own"], staging, progress=False, trusted=True)
    assert all(not found for found in rows_of(staging).values())
    assert readers() == []  # and it is gone, not left behind


def test_a_large_migration_reads_its_document_in_a_second_process(tmp_path: Path) -> None:
    """A real `bakemigrate migrate` of a history whose export passes `WORKER_BYTES`: verified, PASS."""
    db = tmp_path / "bake_tracker.db"
    run = [sys.executable, "-m", "bakemigrate"]
    subprocess.run([*run, "demo", str(db), "--runs", "13000"], check=True, capture_output=True)
    done = subprocess.run([*run, "migrate", str(db), "--workdir", str(tmp_path / "work"), "--yes", "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "work" / "export_v1.1.json").stat().st_size >= importer.WORKER_BYTES
    assert done.stdout.splitlines()[-1].startswith("PASS: ") and "13,000 runs" in done.stdout
