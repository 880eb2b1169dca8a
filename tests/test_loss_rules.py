"""--infer-losses records what bake-tracker 0.7's `record_batch_production` records, exactly.

The expected values below were worked out by hand from the app's rule: per-item cost = the run's
ingredient cost (as the app reads it, 4 decimals) / the items made, exact, or 0.0000 when nothing was
made; loss value = lost items x that exact per-item cost; the NUMERIC(10,4) columns store a float and
the app reads it back with 4 decimals.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from bakemigrate import transform_v1_0_to_v1_1
from bakemigrate.loss_rules import v07_loss
from bakemigrate.pipeline import Migration
from bakemigrate.verify import verify

# expected, actual, the cost as the v0.6 app stores it (an unrounded REAL, or INTEGER when whole),
# then what 0.7 records: status, loss_quantity, per_unit_cost and total_loss_cost as the app reads
# them back (None: no loss row)
CASES = [
    pytest.param(100, 0, 18.4276107929593, "total_loss", 100, "0.0000", "0.0000", id="nothing made, cost > 0"),
    pytest.param(78, 0, 0, "total_loss", 78, "0.0000", "0.0000", id="nothing made, cost 0"),
    # 10.0000 / 3 = 3.3333333...; 280 x that = 933.3333 (not 280 x 3.3333 = 933.3240)
    pytest.param(283, 3, 10, "partial_loss", 280, "3.3333", "933.3333", id="per item 10.0000/3, 280 lost"),
    # 20.5824 / 47 = 0.43792340...; 5 x that = 2.1896 (not 5 x 0.4379 = 2.1895)
    pytest.param(52, 47, 20.5823759501931, "partial_loss", 5, "0.4379", "2.1896", id="unrounded REAL cost"),
    # the app reads the stored 0.00014999 as 0.0001: 0.0001 per item, 1000 lost = 0.1000
    pytest.param(1001, 1, 0.00014999, "partial_loss", 1000, "0.0001", "0.1000", id="cost read at 4 decimals"),
    # 0.0001 / 2 = 0.00005 exactly: stored as the float 5.000000000000000239e-05, read back as 0.0001
    pytest.param(3, 2, 0.0001, "partial_loss", 1, "0.0001", "0.0001", id="half a step, float rounding"),
    pytest.param(24, 24, 6.53861346760966, "complete", 0, None, None, id="actual = expected"),
    pytest.param(10, 12, 5.5, "complete", 0, None, None, id="actual > expected"),
]


def _read(value: object) -> str:
    """A NUMERIC(10,4) value as the app reads it: 4 decimals of the stored float."""
    return f"{float(value):.4f}"


@pytest.mark.parametrize(("expected", "actual", "stored", "status", "lost", "per_unit", "total"), CASES)
def test_the_rule(expected, actual, stored, status, lost, per_unit, total) -> None:
    rule = v07_loss(expected, actual, stored)
    assert (rule.production_status, rule.loss_quantity) == (status, lost)
    assert rule.has_loss_row == (per_unit is not None)
    if per_unit is not None:
        assert (_read(rule.per_unit_cost), _read(rule.total_loss_cost)) == (per_unit, total)
        assert (str(rule.stored_per_unit_cost), str(rule.stored_total_loss_cost)) == (per_unit, total)
    assert rule.total_loss_cost == rule.loss_quantity * rule.per_unit_cost  # exact, never pre-rounded


def _document(fixture_export: Path) -> dict:
    doc = json.loads(fixture_export.read_text(encoding="utf-8"))
    template = doc["production_runs"][0]
    runs = []
    for number, case in enumerate(CASES):
        expected, actual, stored = case.values[:3]
        runs.append({**template, "uuid": f"00000000-0000-4000-8000-{number:012d}", "expected_yield": expected,
                     "actual_yield": actual, "total_ingredient_cost": _read(stored),
                     "per_unit_cost": _read(stored / actual) if actual else "0.0000"})
    doc["production_runs"] = runs
    return doc


def test_the_transform_writes_the_rule(fixture_export: Path) -> None:
    out = transform_v1_0_to_v1_1(_document(fixture_export), infer_losses=True)
    for run, case in zip(out["production_runs"], CASES, strict=True):
        expected, actual, _, status, lost, per_unit, total = case.values
        assert (run["production_status"], run["loss_quantity"]) == (status, lost)
        if per_unit is None:
            assert run["losses"] == []
            continue
        [loss] = run["losses"]
        assert (loss["loss_category"], loss["loss_quantity"]) == ("other", lost)
        assert (loss["per_unit_cost"], loss["total_loss_cost"]) == (per_unit, total)
        assert loss["notes"] == (f"Inferred during migration to v0.7: the run made {actual} of {expected} "
                                 f"expected items; the {lost} missing item(s) are recorded as a loss.")


def _hand_made_database(fixture_db: Path) -> dict[int, object]:
    """The fixture with its first runs rewritten as the cases, costs stored as 0.6 stores them."""
    conn = sqlite3.connect(fixture_db)
    ids = [r[0] for r in conn.execute("SELECT id FROM production_runs ORDER BY id LIMIT ?", (len(CASES),))]
    with conn:
        for run_id, case in zip(ids, CASES, strict=True):
            expected, actual, stored = case.values[:3]
            conn.execute(
                "UPDATE production_runs SET expected_yield = ?, actual_yield = ?, total_ingredient_cost = ?, "
                "per_unit_cost = ? WHERE id = ?",
                (expected, actual, stored, stored / actual if actual else 0, run_id),
            )
    stored_types = dict(conn.execute("SELECT id, typeof(total_ingredient_cost) FROM production_runs"))
    conn.close()
    assert [stored_types[i] for i in ids[:3]] == ["real", "integer", "integer"]  # as SQLite keeps them
    return dict(zip(ids, CASES, strict=True))


def test_migrate_records_the_rule_in_the_database(cli, fixture_db: Path, tmp_path: Path) -> None:
    cases = _hand_made_database(fixture_db)
    result = cli("migrate", fixture_db, "--workdir", tmp_path / "work", "--yes", "--quiet", "--infer-losses")
    assert result.returncode == 0, result.stdout + result.stderr
    conn = sqlite3.connect(fixture_db)
    for run_id, case in cases.items():
        _, _, _, status, lost, per_unit, total = case.values
        assert conn.execute("SELECT production_status, loss_quantity FROM production_runs WHERE id = ?",
                            (run_id,)).fetchone() == (status, lost)
        losses = conn.execute(
            "SELECT loss_category, loss_quantity, per_unit_cost, total_loss_cost FROM production_losses "
            "WHERE production_run_id = ?", (run_id,)).fetchall()
        want = [] if per_unit is None else [("other", lost, per_unit, total)]
        assert [(c, q, _read(p), _read(t)) for c, q, p, t in losses] == want
    conn.close()


# -- the verification proves the rules field by field ------------------------------------------------------


@pytest.fixture
def imported(fixture_db: Path, tmp_path: Path) -> Migration:
    migration = Migration(fixture_db, tmp_path / "work", infer_losses=True, progress=False)
    migration.preflight()
    migration.backup()
    migration.import_()
    return migration


def _verify(migration: Migration):
    return verify(migration.workdir / "backup" / migration.db.name, migration.staging, migration.export_v10,
                  expected=migration.export_v11)


def test_verification_passes_the_rule_and_names_total_losses(imported: Migration) -> None:
    result = _verify(imported)
    assert result.passed, result.checks.to_string()
    detail = result.checks.set_index("check").loc["statuses and losses", "detail"]
    assert detail.startswith("16 shortfalls as 0.7 records them") and "0 differ" in detail
    assert "4 total losses at 0.0000" in detail
    summary = result.shortfall_summary()
    assert "12 partial and 4 total" in summary
    assert "valued at 0.0000 as bake-tracker 0.7 values them" in summary
    assert "ingredient cost stays on the runs and is not counted as loss value" in summary


# (what is changed in the staging database, the field the verification must name)
TAMPERING = [
    pytest.param("UPDATE production_losses SET total_loss_cost = round(per_unit_cost, 4) * loss_quantity "
                 "WHERE loss_quantity = 5", "total_loss_cost", id="4-decimal per-item cost x lost items"),
    pytest.param("UPDATE production_losses SET per_unit_cost = 0.017, total_loss_cost = 5.1 "
                 "WHERE production_run_id IN (SELECT id FROM production_runs WHERE actual_yield = 0 "
                 "AND total_ingredient_cost > 0)", "per_unit_cost", id="total loss valued at cost"),
    pytest.param("UPDATE production_losses SET loss_category = 'burnt' WHERE id = 1", "loss_category",
                 id="category"),
    pytest.param("UPDATE production_losses SET notes = 'lost' WHERE id = 1", "notes", id="note"),
    pytest.param("UPDATE production_losses SET finished_unit_id = finished_unit_id % 29 + 1 WHERE id = 1",
                 "finished_unit_id", id="finished unit"),
    pytest.param("UPDATE production_runs SET production_status = 'partial_loss' WHERE actual_yield = 0 "
                 "AND expected_yield = 100", "production_status", id="status"),
    pytest.param("INSERT INTO production_losses SELECT production_run_id, finished_unit_id, loss_category, "
                 "loss_quantity, notes, per_unit_cost, total_loss_cost, 1000, uuid || '-2', created_at, "
                 "updated_at FROM production_losses WHERE id = 1", "loss rows", id="two loss rows"),
    pytest.param("UPDATE production_losses SET production_run_id = NULL WHERE id = 1", "loss rows",
                 id="loss row without its run"),
]


@pytest.mark.parametrize(("sql", "column"), TAMPERING)
def test_verification_refuses_a_loss_the_rule_would_not_record(imported: Migration, sql: str, column: str) -> None:
    conn = sqlite3.connect(imported.staging)
    with conn:
        assert conn.execute(sql).rowcount >= 1
    conn.close()
    result = _verify(imported)
    assert not result.passed
    failed = result.checks.loc[~result.checks["passed"], "check"].tolist()
    assert "statuses and losses" in failed
    rules = result.mismatches[result.mismatches["table"].str.startswith("rules:")]
    assert column in set(rules["column"]), rules.to_string()


def test_without_the_option_any_loss_is_refused(fixture_db: Path, tmp_path: Path) -> None:
    migration = Migration(fixture_db, tmp_path / "work", progress=False)
    inferred = Migration(shutil.copy(fixture_db, tmp_path / "other.db"), tmp_path / "work2", infer_losses=True,
                         progress=False)
    for each in (migration, inferred):
        each.preflight()
        each.backup()
        each.import_()
    staging = sqlite3.connect(migration.staging)
    with staging:
        staging.execute("ATTACH DATABASE ? AS inferred", (str(inferred.staging),))
        staging.execute("INSERT INTO production_losses SELECT * FROM inferred.production_losses WHERE id = 1")
    staging.close()
    result = verify(migration.workdir / "backup" / fixture_db.name, migration.staging, migration.export_v10)
    detail = result.checks.set_index("check").loc["statuses and losses"]
    assert not detail["passed"] and "differ from complete with 0 losses" in detail["detail"]



@pytest.mark.parametrize("infer", [False, True])
def test_step_by_step_switch_checks_the_rules_the_document_was_made_with(cli, fixture_db: Path, tmp_path: Path,
                                                                         infer: bool) -> None:
    work = tmp_path / "work"
    backup = work / "backup" / fixture_db.name
    v10, v11, staging = work / "export_v1.0.json", work / "export_v1.1.json", work / "staging.db"
    steps = [("backup", fixture_db, "--workdir", work), ("export", backup, v10, "--quiet"),
             ("transform", v10, v11, *(["--infer-losses"] if infer else [])), ("reset", backup, staging),
             ("import", v11, staging, "--quiet")]
    for step in steps:
        result = cli(*step)
        assert result.returncode == 0, (step[0], result.stdout, result.stderr)
    # the verify command checks what it is told: the rules of 0.7, or every run complete
    for flag in (False, True):
        result = cli("verify", backup, staging, "--before", v10, *(["--infer-losses"] if flag else []))
        statuses = next(line.strip() for line in result.stdout.splitlines() if "statuses and losses:" in line)
        assert result.returncode == (0 if flag == infer else 1), result.stdout
        assert statuses.startswith("✓" if flag == infer else "✗"), statuses
    result = cli("switch", fixture_db, "--workdir", work, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    conn = sqlite3.connect(fixture_db)
    statuses = dict(conn.execute("SELECT production_status, count(*) FROM production_runs GROUP BY 1"))
    conn.close()
    assert statuses == ({"complete": 44, "partial_loss": 12, "total_loss": 4} if infer else {"complete": 60})
