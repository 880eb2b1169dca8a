"""The temporary SQLite files that keep a document's runs (bakemigrate.spill), and what a killed process leaves."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bakemigrate.spill import SpilledRows, remove_abandoned

HOLDER = """
import sqlite3, sys, time
from bakemigrate.spill import SpilledRows
rows = SpilledRows("uuid")
for i in range(5000):
    rows.add(str(i))
with rows.attached(sqlite3.connect(":memory:"), "document"):  # every row written to the file
    pass
print(rows.path, flush=True)
time.sleep(120)
"""


@pytest.fixture
def temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder of this process and of the processes it starts."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def start_holder() -> tuple[subprocess.Popen[str], Path]:
    """A process that keeps 5,000 rows in a spill file and waits; returns it and the file."""
    child = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=os.environ)
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


def test_rows_are_compared_inside_sqlite_and_close_removes_the_files(temp_folder: Path) -> None:
    rows = SpilledRows("uuid")
    for uuid in ("a", "b", "c"):
        rows.add(uuid)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE runs (uuid TEXT)")
    conn.executemany("INSERT INTO runs VALUES (?)", [("a",), ("c",)])
    conn.commit()
    with rows.attached(conn, "document") as table:
        assert conn.execute(f"SELECT uuid FROM {table} EXCEPT SELECT uuid FROM runs").fetchall() == [("b",)]
    assert sorted(path.suffix for path in temp_folder.iterdir()) == [".lock", ".sqlite"]
    rows.close()
    assert list(temp_folder.iterdir()) == []


def test_the_files_of_a_killed_process_are_removed_by_the_next_one(temp_folder: Path) -> None:
    child, path = start_holder()
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert path.exists() and path.with_suffix(".lock").exists()  # kill -9 leaves them
    rows = SpilledRows("uuid")
    assert not path.exists() and not path.with_suffix(".lock").exists()
    rows.close()
    assert list(temp_folder.iterdir()) == []


def test_the_files_of_a_living_process_are_kept(temp_folder: Path) -> None:
    child, path = start_holder()
    try:
        assert remove_abandoned(temp_folder) == []
        assert path.exists()
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM rows").fetchone() == (5000,)
    finally:
        child.kill()
        child.wait()
    assert remove_abandoned(temp_folder) == [path, path.with_suffix(".lock")]
