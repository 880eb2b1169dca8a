"""The database's own triggers, indexes and views that refer to the production tables are kept on
v0.7, word for word (an audit trigger does not fire for the rows the import only moves); one that
cannot be kept on v0.7 is refused before anything is written, naming it; the verification compares
the whole `sqlite_master` apart from the production tables' own objects."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dbfacts import reference_names
from reliability_helpers import one_line_error

from bakemigrate.cli import main
from bakemigrate.db import sha256_file
from bakemigrate.pipeline import Migration
from bakemigrate.verify import verify

PRODUCTION = ("production_runs", "production_consumptions", "production_losses")

OWN_OBJECTS = """
CREATE TABLE run_audit (id INTEGER PRIMARY KEY, run_uuid TEXT NOT NULL, action TEXT NOT NULL);
INSERT INTO run_audit (run_uuid, action) VALUES ('earlier-1', 'insert'), ('earlier-2', 'update');
CREATE TRIGGER audit_run_insert AFTER INSERT ON production_runs
BEGIN INSERT INTO run_audit (run_uuid, action) VALUES (NEW.uuid, 'insert'); END;
CREATE TRIGGER audit_run_notes AFTER UPDATE OF notes ON production_runs
BEGIN INSERT INTO run_audit (run_uuid, action) VALUES (NEW.uuid, 'notes'); END;
CREATE TRIGGER audit_consumption_insert AFTER INSERT ON production_consumptions
BEGIN INSERT INTO run_audit (run_uuid, action) VALUES (NEW.uuid, 'consumption'); END;
CREATE UNIQUE INDEX my_one_run_per_moment ON production_runs (finished_unit_id, produced_at);
CREATE INDEX my_costly_consumptions ON production_consumptions (total_cost DESC) WHERE total_cost > 1;
CREATE VIEW run_costs AS SELECT r.uuid, sum(c.total_cost) AS cost FROM production_runs AS r
  JOIN production_consumptions AS c ON c.production_run_id = r.id GROUP BY r.uuid;
CREATE TRIGGER recipe_gone AFTER DELETE ON recipes
BEGIN DELETE FROM production_runs WHERE recipe_id = OLD.id; END;
"""


def add_own_objects(db: Path, script: str = OWN_OBJECTS) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(script)
    conn.commit()
    conn.close()


def other_objects(db: Path, version: str) -> list[tuple]:
    """Every sqlite_master row but the production tables' own objects as the app creates them."""
    app = reference_names(version)
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    conn.close()
    return [row for row in rows if not (row[2] in PRODUCTION and row[1] in app)]


def query(db: Path, sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("flags", [(), ("--infer-losses",)], ids=["kept complete", "inferred losses"])
def test_own_triggers_indexes_and_views_are_kept(
    fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    add_own_objects(fixture_db)
    before = other_objects(fixture_db, "0.6")
    assert len([row for row in before if row[0] in ("trigger", "view") or row[1].startswith("my_")]) == 7
    audit = query(fixture_db, "SELECT * FROM run_audit")
    costs = query(fixture_db, "SELECT uuid, quote(cost) FROM run_costs ORDER BY uuid")
    capsys.readouterr()
    code = main(["migrate", str(fixture_db), "--workdir", str(tmp_path / "work"), "--yes", "--quiet", *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "7 triggers, indexes or views of your own refer to the production" in out
    assert "your 7 own objects kept" in out
    assert other_objects(fixture_db, "0.7") == before  # type, name, table and SQL, word for word
    assert query(fixture_db, "SELECT * FROM run_audit") == audit  # no trigger fired for the moved rows
    assert query(fixture_db, "SELECT uuid, quote(cost) FROM run_costs ORDER BY uuid") == costs
    # and each works on the v0.7 tables
    conn = sqlite3.connect(fixture_db)
    uuid = conn.execute("SELECT uuid FROM production_runs LIMIT 1").fetchone()[0]
    conn.execute("UPDATE production_runs SET notes = 'checked' WHERE uuid = ?", (uuid,))
    assert conn.execute("SELECT action FROM run_audit WHERE run_uuid = ?", (uuid,)).fetchall() == [("notes",)]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute(
            "INSERT INTO production_runs SELECT recipe_id, finished_unit_id, event_id, num_batches, expected_yield, "
            "actual_yield, produced_at, notes, production_status, loss_quantity, total_ingredient_cost, "
            "per_unit_cost, NULL, 'another-uuid', created_at, updated_at FROM production_runs WHERE uuid = ?", (uuid,))
    conn.rollback()
    conn.close()


def test_verification_fails_when_an_own_object_is_lost(fixture_db: Path, tmp_path: Path) -> None:
    add_own_objects(fixture_db)
    migration = Migration(fixture_db, tmp_path / "work", progress=False)
    backup = migration.backup()
    assert migration.verify().passed
    conn = sqlite3.connect(migration.staging)
    conn.execute("DROP INDEX my_costly_consumptions")
    conn.execute("DROP VIEW run_costs")
    conn.execute("CREATE VIEW run_costs AS SELECT uuid FROM production_runs")
    conn.commit()
    conn.close()
    result = verify(backup.path, migration.staging, migration.export_v10)
    assert not result.passed
    detail = result.checks.set_index("check").loc["v0.7 schema", "detail"]
    assert detail == "differs: my_costly_consumptions, run_costs"


def _clash(db: Path) -> None:  # an index of the name v0.7 gives its own
    add_own_objects(db, "CREATE INDEX idx_production_run_status ON production_runs (notes);")


def _ambiguous_view(db: Path) -> None:  # loss_quantity is a column of the v0.7 runs too
    add_own_objects(db, "CREATE TABLE my_losses (run_id INTEGER, loss_quantity INTEGER);"
                        "CREATE VIEW my_run_losses AS SELECT uuid, loss_quantity FROM production_runs "
                        "JOIN my_losses ON run_id = id;")


def _ambiguous_trigger(db: Path) -> None:
    add_own_objects(db, "CREATE TABLE my_statuses (run_id INTEGER, production_status TEXT);"
                        "CREATE TRIGGER my_status_copy AFTER INSERT ON production_runs BEGIN "
                        "UPDATE my_statuses SET production_status = (SELECT production_status FROM production_runs "
                        "JOIN my_statuses AS s ON s.run_id = production_runs.id LIMIT 1); END;")


CANNOT_KEEP = {
    "an index named as v0.7's own": (_clash, "the index idx_production_run_status (on production_runs)"),
    "a view made ambiguous by the v0.7 columns": (_ambiguous_view, "the view my_run_losses (on my_run_losses)"),
    "a trigger made ambiguous by the v0.7 columns": (
        _ambiguous_trigger, "the trigger my_status_copy (on production_runs)"),
}


@pytest.mark.parametrize("case", list(CANNOT_KEEP))
@pytest.mark.parametrize("dry_run", [False, True], ids=["migrate", "dry run"])
def test_an_object_that_cannot_be_kept_is_refused_before_anything_is_written(
    case: str, dry_run: bool, fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, named = CANNOT_KEEP[case]
    make(fixture_db)
    before = sha256_file(fixture_db)
    workdir = tmp_path / "work"
    capsys.readouterr()
    code = main(["migrate", str(fixture_db), "--workdir", str(workdir), "--quiet",
                 *(["--dry-run"] if dry_run else ["--yes"])])
    line = one_line_error(capsys.readouterr().err)
    assert code == 2
    assert named in line and "cannot be kept on the v0.7 production tables" in line, line
    assert sha256_file(fixture_db) == before
    assert not workdir.exists()
