"""Every value of every production row keeps its stored SQLite type and value through the migration
(`typeof` and `quote` equal), although the documents keep the app's 4-decimal texts: the exact
stored value travels in the `stored_values` extension key where the text cannot carry it, and the
verification fails on any value that is not the very one stored before."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import one_line_error

from bakemigrate.cli import main
from bakemigrate.pipeline import Migration
from bakemigrate.reset import reset
from bakemigrate.verify import verify

FIXTURE_SUM = "4.11427892628611061812e+03"  # quote(SUM(total_cost)) of the fixture's consumptions: 4114.27892628611
COST = re.compile(r"^(0|[1-9][0-9]*)\.[0-9]{4}$")


def stored(db: Path) -> dict[str, dict]:
    """typeof and quote of every column of every v0.6 production row, by table and uuid."""
    conn = sqlite3.connect(db)
    found = {}
    for table in ("production_runs", "production_consumptions"):
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")
                   if r[1] not in ("production_status", "loss_quantity")]  # the two v0.7 columns
        values = ", ".join(f"typeof({c}), quote({c})" for c in columns)
        found[table] = {row[0]: row[1:] for row in conn.execute(f"SELECT uuid, {values} FROM {table}")}
    conn.close()
    return found


def total_cost_sum(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT quote(sum(total_cost)) FROM production_consumptions").fetchone()[0]
    finally:
        conn.close()


def test_fixture_keeps_every_stored_value_and_the_sum_exactly(fixture_db: Path, tmp_path: Path) -> None:
    before = stored(fixture_db)
    assert total_cost_sum(fixture_db) == FIXTURE_SUM
    workdir = tmp_path / "work"
    assert main(["migrate", str(fixture_db), "--workdir", str(workdir), "--yes", "--quiet"]) == 0
    assert stored(fixture_db) == before
    assert total_cost_sum(fixture_db) == FIXTURE_SUM
    # the document keeps the app's format; the stored value rides beside the text that rounds it
    doc = json.loads((workdir / "export_v1.0.json").read_text(encoding="utf-8"))
    consumptions = [c for run in doc["production_runs"] for c in run["consumptions"]]
    assert all(COST.match(c["total_cost"]) for c in consumptions)
    assert all(COST.match(run[k]) for run in doc["production_runs"] for k in ("total_ingredient_cost", "per_unit_cost"))
    carried = [c for c in consumptions if "total_cost" in c.get("stored_values", {})]
    assert len(carried) > 50
    run = next(r for r in doc["production_runs"] if r["uuid"] == "d8fd09aa-7a20-4b8c-a70a-3f951aa85440")
    assert (run["total_ingredient_cost"], run["per_unit_cost"]) == ("8.1709", "0.1702")
    assert run["stored_values"] == {"total_ingredient_cost": "8.1709375", "per_unit_cost": "0.17022786458333333"}


def test_verification_fails_on_a_value_rounded_in_the_copy(fixture_db: Path, tmp_path: Path) -> None:
    migration = Migration(fixture_db, tmp_path / "work", progress=False)
    backup = migration.backup()
    assert migration.verify().passed
    conn = sqlite3.connect(migration.staging)
    uuid = conn.execute("SELECT uuid FROM production_runs WHERE total_ingredient_cost = 8.1709375").fetchone()[0]
    conn.execute("UPDATE production_runs SET total_ingredient_cost = 8.1709 WHERE uuid = ?", (uuid,))
    conn.commit()
    conn.close()
    result = verify(backup.path, migration.staging, migration.export_v10)
    assert not result.passed
    failed = result.checks.loc[~result.checks["passed"], "check"].tolist()
    assert "every field" in failed
    shown = result.mismatches[result.mismatches["column"] == "total_ingredient_cost"]
    assert shown[["key", "before", "after"]].values.tolist() == [[uuid, "8.1709375", "8.1709"]]


@pytest.mark.parametrize(
    ("stored_values", "expected"),
    [
        ({"total_cost": "9.5"}, "stored value 9.5 is not"),
        ({"total_cost": "abc"}, "not the text of a finite number"),
        ({"total_cost": "inf"}, "not the text of a finite number"),
        ({"unit": "1"}, "unit is not a NUMERIC field here"),
        ("8.1709375", "not an object of stored values"),
    ],
)
def test_import_refuses_stored_values_that_do_not_agree(
    fixture_db: Path, tmp_path: Path, capsys, stored_values: object, expected: str
) -> None:
    migration = Migration(fixture_db, tmp_path / "work", progress=False)
    migration.backup()
    migration.transform()
    doc = json.loads(migration.export_v11.read_text(encoding="utf-8"))
    doc["production_runs"][0]["consumptions"][0]["stored_values"] = stored_values
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    staging = tmp_path / "staging.db"
    reset(fixture_db, staging)
    counts_before = stored(staging)
    capsys.readouterr()
    assert main(["import", str(edited), str(staging), "--quiet"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert expected in line and "stored_values" in line, line
    assert stored(staging) == counts_before  # nothing imported


# -- odd stored values ---------------------------------------------------------------------------

_costs = st.one_of(
    st.floats(min_value=0, max_value=9e10, allow_nan=False, allow_infinity=False),  # every digit a double has
    st.integers(0, 10**10),  # whole values, stored as INTEGER in a NUMERIC column
    st.integers(0, 10**13).map(lambda n: n / 10**7),  # 7 decimals
    st.integers(0, 10**9).map(lambda n: n / 10**4 + 0.00005),  # at the rounding tie
    st.sampled_from([0.1 + 0.2, 1 / 3, 2 / 3, 1e-9, 5e-324, -0.0, 0.0, 0, 8.1709375]),
)
_quantities = st.one_of(
    st.floats(min_value=0.001, max_value=9e10, allow_nan=False, allow_infinity=False),
    st.integers(1, 10**10),
    st.integers(10**4, 10**12).map(lambda n: n / 10**7),
)


@given(
    run_costs=st.lists(st.tuples(_costs, _costs), min_size=1, max_size=60),
    consumption_values=st.lists(st.tuples(_quantities, _costs), min_size=1, max_size=80),
)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_odd_stored_values_survive_exactly(
    tmp_path_factory, fixture_db: Path, run_costs: list[tuple], consumption_values: list[tuple]
) -> None:
    """Every run and consumption of the fixture gets drawn values (taken in turn when fewer are drawn)."""
    folder = tmp_path_factory.mktemp("odd")
    db = folder / "bake_tracker.db"
    shutil.copyfile(fixture_db, db)
    conn = sqlite3.connect(db)
    runs = [r[0] for r in conn.execute("SELECT id FROM production_runs ORDER BY id")]
    consumptions = [r[0] for r in conn.execute("SELECT id FROM production_consumptions ORDER BY id")]
    for i, run_id in enumerate(runs):
        conn.execute("UPDATE production_runs SET total_ingredient_cost = ?, per_unit_cost = ? WHERE id = ?",
                     (*run_costs[i % len(run_costs)], run_id))
    for i, cid in enumerate(consumptions):
        conn.execute("UPDATE production_consumptions SET quantity_consumed = ?, total_cost = ? WHERE id = ?",
                     (*consumption_values[i % len(consumption_values)], cid))
    conn.commit()
    conn.close()
    before, before_sum = stored(db), total_cost_sum(db)
    migration = Migration(db, folder / "work", progress=False)
    migration.backup()
    result = migration.verify()
    assert result.passed, result.checks.to_string()
    assert stored(migration.staging) == before
    assert total_cost_sum(migration.staging) == before_sum
