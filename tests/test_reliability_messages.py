"""Guarantee 13: what would have failed late, or with a cryptic line, is refused first and plainly:
timestamps not stored as bake-tracker stores them (naming the table, the run and the value), and a
path whose name is not UTF-8 text (never "surrogates not allowed")."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import REPO, one_line_error

from bakemigrate.cli import main
from bakemigrate.db import sha256_file

ODD_TIMESTAMPS = [
    ("production_runs", "produced_at", "2024-01-01"),
    ("production_runs", "created_at", "2024-01-01T10:00:00.123456"),
    ("production_runs", "updated_at", "2024-01-01 10:00:00"),
    ("production_runs", "produced_at", "2024-02-30 10:00:00.000000"),
    ("production_runs", "produced_at", 1704103200),
    ("production_consumptions", "created_at", "2024-01-01T10:00:00"),
    ("production_consumptions", "updated_at", "yesterday"),
]


@pytest.mark.parametrize(("table", "column", "value"), ODD_TIMESTAMPS, ids=lambda v: str(v))
def test_a_timestamp_not_stored_as_the_app_stores_it_is_refused_in_the_preflight(
    table: str, column: str, value: object, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(demo_db) as conn:
        row_id, run_id = conn.execute(
            f"SELECT id, {'production_run_id' if table == 'production_consumptions' else 'id'} FROM {table} "
            "ORDER BY id LIMIT 1 OFFSET 7").fetchone()
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, row_id))
    before = sha256_file(demo_db)
    lines = []
    for mode in ("--dry-run", "--yes"):
        capsys.readouterr()
        assert main(["migrate", str(demo_db), "--workdir", str(tmp_path / "work"), mode, "--quiet"]) == 2
        lines.append(one_line_error(capsys.readouterr().err))
    assert lines[0] == lines[1]
    assert f"{table} row {row_id} (production run {run_id}) has {column} = {value!r}" in lines[0], lines[0]
    assert "1 such values" in lines[0]
    assert sha256_file(demo_db) == before and not (tmp_path / "work").exists()


def test_the_app_s_own_timestamps_pass(fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", str(fixture_db), "--workdir", str(tmp_path / "work"), "--dry-run", "--quiet"]) == 0


def test_a_path_that_is_not_utf8_is_refused_plainly(demo_db: Path, tmp_path: Path) -> None:
    if sys.platform == "darwin" or os.name == "nt":
        pytest.skip("this file system only takes names that are valid text")
    folder = os.fsencode(tmp_path) + b"/caf\xe9"
    os.mkdir(folder)
    db = folder + b"/bake_tracker.db"
    with open(db, "wb") as fh:
        fh.write(demo_db.read_bytes())
    before = sha256_file(os.fsdecode(db))
    commands = [
        ["migrate", db, "--workdir", os.fsencode(tmp_path) + b"/work", "--yes"],
        ["migrate", db, "--dry-run"],
        ["migrate", os.fsencode(demo_db), "--workdir", folder + b"/work", "--yes"],
        ["backup", db, "--workdir", os.fsencode(tmp_path) + b"/work2"],
        ["validate", db],
    ]
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "bakemigrate", *args], capture_output=True, cwd=REPO, timeout=300)
        err = done.stderr.decode("utf-8")
        assert done.returncode == 2, err
        line = one_line_error(err)
        assert "caf\\xe9" in line and "not text (not UTF-8)" in line, line
        assert "surrogates" not in line
    assert sha256_file(os.fsdecode(db)) == before
    assert sorted(os.listdir(folder)) == [b"bake_tracker.db"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bake_tracker.db", os.fsdecode(b"caf\xe9")]
