"""The command-line track, one step at a time, as the guide shows it: each command run through `main(argv)`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import Ran

from bakemigrate.db import content_digest, sha256_file


def _ok(result: Ran) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_each_step_by_hand_then_switch(cli, fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    original = content_digest(fixture_db)
    backup = work / "backup" / fixture_db.name
    v10, v11, staging = work / "export_v1.0.json", work / "export_v1.1.json", work / "staging.db"

    assert "integrity ok" in _ok(cli("backup", fixture_db, "--workdir", work))
    assert content_digest(backup) == original
    assert "exported 60 production runs, 271 consumptions" in _ok(cli("export", backup, v10, "--quiet"))
    assert "60 transformed" in _ok(cli("transform", v10, v11))
    assert _ok(cli("validate", v11)).startswith(f"{v11}: valid production-history export v1.1")
    assert "recreated empty in v0.7 shape" in _ok(cli("reset", backup, staging))
    assert "imported 60 production runs" in _ok(cli("import", v11, staging, "--quiet"))
    out = _ok(cli("verify", backup, staging, "--before", v10))
    assert out.splitlines()[-1].startswith("verify: PASS (") and "  ✓ production runs" in out
    assert content_digest(fixture_db) == original
    assert _ok(cli("switch", fixture_db, "--workdir", work, "--yes")).startswith("switched: ")
    conn = sqlite3.connect(fixture_db)
    assert conn.execute("SELECT count(*) FROM production_runs WHERE production_status = 'complete'").fetchone() == (60,)
    conn.close()


def test_verify_fails_when_a_value_differs(cli, fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    v10, staging = work / "v10.json", work / "staging.db"
    _ok(cli("backup", fixture_db, "--workdir", work))
    backup = work / "backup" / fixture_db.name
    _ok(cli("export", backup, v10, "--quiet"))
    _ok(cli("reset", backup, staging))
    _ok(cli("import", v10, staging, "--quiet"))
    conn = sqlite3.connect(staging)
    conn.execute("UPDATE production_runs SET notes = 'changed' WHERE id = 3")
    conn.commit()
    conn.close()
    result = cli("verify", backup, staging, "--before", v10)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1].startswith("verify: FAIL") and "  ✗ every field: " in result.stdout


def test_switch_refuses_an_unverifiable_staging(cli, fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    _ok(cli("backup", fixture_db, "--workdir", work))
    digest = sha256_file(fixture_db)
    result = cli("switch", fixture_db, "--workdir", work, "--yes")
    assert result.returncode == 2 and "no verified staging database" in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and result.stdout == ""
    assert sha256_file(fixture_db) == digest
