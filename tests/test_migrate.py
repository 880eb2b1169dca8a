"""The whole migration on real databases: nothing lost, the schema exactly v0.7, re-runs safe."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from dbfacts import all_tables, reference_db, rows, table_facts

from bakemigrate.db import content_digest, sha256_file

RUN_COLUMNS = [
    "uuid", "recipe_id", "finished_unit_id", "event_id", "num_batches", "expected_yield", "actual_yield",
    "produced_at", "notes", "total_ingredient_cost", "per_unit_cost", "created_at", "updated_at",
]
CONSUMPTION_COLUMNS = [
    "uuid", "production_run_id", "ingredient_slug", "quantity_consumed", "unit", "total_cost",
    "created_at", "updated_at",
]
SCALES = {"total_ingredient_cost": 4, "per_unit_cost": 4, "quantity_consumed": 3, "total_cost": 4}


def _snapshot(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        snap = {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in all_tables(conn)}
        snap["production_runs"] = rows(conn, "production_runs", RUN_COLUMNS, SCALES)
        snap["production_consumptions"] = rows(conn, "production_consumptions", CONSUMPTION_COLUMNS, SCALES)
        return snap
    finally:
        conn.close()


def _migrate(cli, db: Path, workdir: Path, *extra: str):
    result = cli("migrate", db, "--workdir", workdir, "--yes", "--quiet", *extra)
    assert "Traceback" not in result.stderr
    return result


def test_fixture_migrates_with_nothing_lost(cli, fixture_db: Path, tmp_path: Path) -> None:
    before = _snapshot(fixture_db)
    result = _migrate(cli, fixture_db, tmp_path / "work")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("PASS: ")  # not "verified (PASS) but not switched"
    after = _snapshot(fixture_db)
    assert set(after) == set(before) | {"production_losses"}
    for table in before:
        assert after[table] == before[table], table
    assert len(after["production_runs"]) == 60
    assert sum(1 for r in after["production_runs"].values() if r[3] is not None) == 37  # event links kept
    assert after["production_losses"] == []
    conn = sqlite3.connect(fixture_db)
    statuses = conn.execute("SELECT production_status, loss_quantity, count(*) FROM production_runs GROUP BY 1, 2")
    assert statuses.fetchall() == [("complete", 0, 60)]
    # timestamps stored exactly as the app stores them
    stored = [r[0] for r in conn.execute("SELECT produced_at FROM production_runs")]
    assert all(len(s) == 26 and s[10] == " " for s in stored)
    conn.close()


def test_migrated_schema_is_exactly_v07(cli, fixture_db: Path, tmp_path: Path) -> None:
    assert _migrate(cli, fixture_db, tmp_path / "work").returncode == 0
    ours, ref = sqlite3.connect(fixture_db), reference_db("0.7")
    assert all_tables(ours) == all_tables(ref)
    for table in ("production_runs", "production_consumptions", "production_losses"):
        assert table_facts(ours, table) == table_facts(ref, table), table
    ours_sql = {n: s for n, s in ours.execute("SELECT name, sql FROM sqlite_master")}
    ref_sql = {n: s for n, s in ref.execute("SELECT name, sql FROM sqlite_master")}
    assert ours_sql == ref_sql
    assert ours.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert ours.execute("PRAGMA foreign_key_check").fetchall() == []


def test_migrated_run_order_columns_put_status_before_costs(cli, fixture_db: Path, tmp_path: Path) -> None:
    assert _migrate(cli, fixture_db, tmp_path / "work").returncode == 0
    columns = [r[1] for r in sqlite3.connect(fixture_db).execute("PRAGMA table_info(production_runs)")]
    assert columns[7:11] == ["notes", "production_status", "loss_quantity", "total_ingredient_cost"]


def test_rerun_after_success_changes_nothing(cli, fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert _migrate(cli, fixture_db, work).returncode == 0
    digest = sha256_file(fixture_db)
    files = sorted(p.name for p in work.rglob("*"))
    again = _migrate(cli, fixture_db, work)
    assert again.returncode == 0
    assert again.stdout.splitlines()[-1] == f"{fixture_db} is already migrated to bake-tracker v0.7: nothing to do"
    assert sha256_file(fixture_db) == digest
    assert sorted(p.name for p in work.rglob("*")) == files
    fresh = _migrate(cli, fixture_db, tmp_path / "other")
    assert fresh.returncode == 0
    assert fresh.stdout.splitlines()[-1] == f"{fixture_db} is already at bake-tracker v0.7: nothing to do"


def test_rollback_restores_the_original(cli, fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    original = content_digest(fixture_db)
    assert _migrate(cli, fixture_db, work).returncode == 0
    assert content_digest(fixture_db) != original
    result = cli("rollback", fixture_db, "--workdir", work, "--yes")
    assert result.returncode == 0, result.stderr
    assert f"rolled back: {fixture_db} is the pre-migration database again" in result.stdout.splitlines()
    assert content_digest(fixture_db) == original
    assert not Path(f"{fixture_db}-wal").exists()
    # and the migration can be done again after a rollback
    assert _migrate(cli, fixture_db, work).returncode == 0


def test_rollback_without_yes_and_without_terminal_is_refused(cli, fixture_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert _migrate(cli, fixture_db, work).returncode == 0
    digest = sha256_file(fixture_db)
    result = cli("rollback", fixture_db, "--workdir", work)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "--yes" in result.stderr
    assert sha256_file(fixture_db) == digest


def test_dry_run_touches_nothing(cli, fixture_db: Path, tmp_path: Path) -> None:
    digest = sha256_file(fixture_db)
    result = cli("migrate", fixture_db, "--workdir", tmp_path / "work", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "production runs" in result.stdout and "plan:" in result.stdout
    assert not (tmp_path / "work").exists()
    assert sha256_file(fixture_db) == digest


def test_without_yes_nothing_is_switched(cli, fixture_db: Path, tmp_path: Path) -> None:
    digest = sha256_file(fixture_db)
    result = cli("migrate", fixture_db, "--workdir", tmp_path / "work", "--quiet")
    assert result.returncode == 2
    assert "not switched" in result.stdout + result.stderr
    assert sha256_file(fixture_db) == digest
    # answering later with --yes finishes from the journal
    assert _migrate(cli, fixture_db, tmp_path / "work").returncode == 0


def test_demo_database_migrates(cli, demo_db: Path, tmp_path: Path) -> None:
    before = _snapshot(demo_db)
    result = _migrate(cli, demo_db, tmp_path / "work")
    assert result.returncode == 0, result.stderr
    after = _snapshot(demo_db)
    for table in before:
        assert after[table] == before[table], table


def test_infer_losses_follows_the_v07_rules(cli, fixture_db: Path, tmp_path: Path) -> None:
    # bake-tracker 0.7's record_batch_production, worked out here with decimal.Decimal: per-item
    # cost = the run's cost as the app reads it (4 decimals) / actual, exact, or 0.0000 when nothing
    # was made; loss value = lost x that exact cost; a NUMERIC(10,4) value is read back as "%.4f".
    conn = sqlite3.connect(fixture_db)
    before = {u: (e, a, Decimal(f"{t:.4f}")) for u, e, a, t in conn.execute(
        "SELECT uuid, expected_yield, actual_yield, total_ingredient_cost FROM production_runs")}
    conn.close()
    result = _migrate(cli, fixture_db, tmp_path / "work", "--infer-losses")
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(fixture_db)
    runs = conn.execute("SELECT id, uuid, production_status, loss_quantity, finished_unit_id FROM production_runs")
    losses: dict = {}
    for row in conn.execute("SELECT production_run_id, loss_category, loss_quantity, finished_unit_id, notes, "
                            "per_unit_cost, total_loss_cost FROM production_losses"):
        losses.setdefault(row[0], []).append(row)
    total_losses = 0
    for run_id, uuid, status, loss, unit_id in runs:
        expected, actual, cost = before[uuid]
        if actual < expected:
            lost = expected - actual
            per_unit = cost / Decimal(actual) if actual else Decimal("0.0000")
            assert loss == lost
            assert status == ("total_loss" if actual == 0 else "partial_loss")
            [(_, category, quantity, unit, notes, stored_per_unit, stored_total)] = losses[run_id]
            assert (category, quantity, unit) == ("other", lost, unit_id)
            assert "inferred during migration" in notes.lower()
            assert f"{stored_per_unit:.4f}" == f"{float(per_unit):.4f}"
            assert f"{stored_total:.4f}" == f"{float(lost * per_unit):.4f}"
            total_losses += actual == 0
            if actual == 0:
                assert (f"{stored_per_unit:.4f}", f"{stored_total:.4f}") == ("0.0000", "0.0000")
        else:
            assert (status, loss) == ("complete", 0)
            assert run_id not in losses
    assert len(losses) == 16 and total_losses == 4
    said = " ".join(result.stdout.split())  # the sentence is wrapped to the terminal's width
    assert "4 runs made nothing: total losses, valued at 0.0000 as bake-tracker 0.7 values them" in said


def test_app_refuses_nothing_when_export_is_requested(
        cli, fixture_db: Path, fixture_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "history.json"
    result = cli("export", fixture_db, out)
    assert result.returncode == 0, result.stderr
    ours = json.loads(out.read_text(encoding="utf-8"))
    theirs = json.loads(fixture_export.read_text(encoding="utf-8"))
    assert ours["version"] == "1.0"
    assert [r["uuid"] for r in ours["production_runs"]] == [r["uuid"] for r in theirs["production_runs"]]
    for mine, app in zip(ours["production_runs"], theirs["production_runs"], strict=True):
        assert list(mine)[: len(app)] == list(app)  # the app's keys first, in the app's order
        for key in app:
            if key == "consumptions":
                extension = ("id", "created_at", "updated_at", "stored_values")  # bakemigrate's own keys
                by_uuid = {c["uuid"]: {k: c[k] for k in c if k not in extension}
                           for c in mine[key]}
                assert by_uuid == {c["uuid"]: c for c in app[key]}
            else:
                assert mine[key] == app[key], key
    assert sum(1 for r in ours["production_runs"] if r["event_uuid"]) == 37
    assert cli("export", fixture_db, out).returncode == 2  # never overwritten


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"hello, this is not a database\n", "not a SQLite database"),
    ],
)
def test_refusals_before_anything_is_written(cli, tmp_path: Path, content: bytes, message: str) -> None:
    db = tmp_path / "bake_tracker.db"
    db.write_bytes(content)
    result = cli("migrate", db, "--workdir", tmp_path / "work", "--yes")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert not (tmp_path / "work").exists()
    assert db.read_bytes() == content


def test_missing_database_is_refused(cli, tmp_path: Path) -> None:
    result = cli("migrate", tmp_path / "nope.db", "--workdir", tmp_path / "work", "--yes")
    assert result.returncode == 2 and "file not found" in result.stderr
    assert not (tmp_path / "nope.db").exists()


def test_locked_database_is_refused(cli, fixture_db: Path, tmp_path: Path) -> None:
    # The lock lives in another process: closing any descriptor of the file in this process
    # (sha256_file does) would drop a POSIX lock held here.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(fixture_db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        digest = sha256_file(fixture_db)
        result = cli("migrate", fixture_db, "--workdir", tmp_path / "work", "--yes")
        assert result.returncode == 2
        assert "close bake-tracker first" in result.stderr
        assert sha256_file(fixture_db) == digest
        assert not (tmp_path / "work" / "backup" / fixture_db.name).exists()
    finally:
        holder.kill()
        holder.wait()


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(120)
"""


def test_other_app_database_is_refused(cli, tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    result = cli("migrate", db, "--workdir", tmp_path / "work", "--yes")
    assert result.returncode == 2 and "not a bake-tracker database" in result.stderr
