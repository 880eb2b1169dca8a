"""The import step: v1.0 and v1.1 documents, the app's own file, references, all or nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bakemigrate.errors import InvalidDocument
from bakemigrate.exporter import export
from bakemigrate.importer import APP_FILE_WARNING, import_document
from bakemigrate.reset import reset
from bakemigrate.transform import transform_file


@pytest.fixture
def staging(fixture_db: Path, tmp_path: Path) -> Path:
    """An empty-production v0.7 staging copy of the fixture database."""
    target = tmp_path / "staging.db"
    reset(fixture_db, target)
    return target


def _count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_app_own_v10_file_imports_with_a_warning(fixture_export: Path, staging: Path, cli) -> None:
    result = cli("import", fixture_export, staging, "--quiet")
    assert result.returncode == 0, result.stderr
    assert APP_FILE_WARNING.split(":")[0] in result.stderr
    assert "imported 60 production runs, 271 consumptions" in result.stdout
    conn = sqlite3.connect(staging)
    assert conn.execute("SELECT count(*) FROM production_runs WHERE event_id IS NULL").fetchone()[0] == 60
    assert conn.execute("SELECT DISTINCT production_status, loss_quantity FROM production_runs").fetchall() == [
        ("complete", 0)
    ]
    conn.close()


def test_v11_document_with_losses_imports_them(fixture_db: Path, staging: Path, tmp_path: Path) -> None:
    v10, v11 = tmp_path / "v10.json", tmp_path / "v11.json"
    export(fixture_db, v10, progress=False)
    transform_file(v10, v11, infer_losses=True)
    doc = json.loads(v11.read_text(encoding="utf-8"))
    expected_losses = {loss["uuid"]: (run["uuid"], loss) for run in doc["production_runs"] for loss in run["losses"]}
    assert len(expected_losses) == 16
    report = import_document(v11, staging, progress=False)
    assert (report.runs, report.consumptions, report.losses) == (60, 271, 16)
    conn = sqlite3.connect(staging)
    rows = conn.execute(
        "SELECT l.uuid, r.uuid, l.loss_category, l.loss_quantity, printf('%.4f', l.total_loss_cost),"
        " l.finished_unit_id = r.finished_unit_id FROM production_losses l JOIN production_runs r"
        " ON r.id = l.production_run_id"
    ).fetchall()
    conn.close()
    for loss_uuid, run_uuid, category, quantity, total, same_unit in rows:
        want_run, want = expected_losses[loss_uuid]
        assert run_uuid == want_run
        assert (category, quantity, total) == (want["loss_category"], want["loss_quantity"], want["total_loss_cost"])
        assert same_unit == 1


def test_import_keeps_ids_timestamps_and_event_links(fixture_db: Path, staging: Path, tmp_path: Path) -> None:
    v10 = tmp_path / "v10.json"
    export(fixture_db, v10, progress=False)
    import_document(v10, staging, progress=False)
    query = ("SELECT id, uuid, event_id, recipe_id, finished_unit_id, produced_at, created_at, updated_at "
             "FROM production_runs ORDER BY id")
    assert sqlite3.connect(staging).execute(query).fetchall() == sqlite3.connect(fixture_db).execute(query).fetchall()


def test_duplicate_uuids_are_skipped_and_reported(fixture_db: Path, staging: Path, tmp_path: Path) -> None:
    v10 = tmp_path / "v10.json"
    export(fixture_db, v10, progress=False)
    import_document(v10, staging, progress=False)
    again = import_document(v10, staging, progress=False)
    assert again.runs == 0 and len(again.skipped) == 60
    assert _count(staging, "production_runs") == 60


def test_ambiguous_recipe_name_is_an_error_and_nothing_is_imported(fixture_export: Path, staging: Path) -> None:
    conn = sqlite3.connect(staging)
    conn.execute(
        "INSERT INTO recipes (name, category, yield_quantity, yield_unit, is_archived, date_added, last_modified,"
        " uuid, created_at, updated_at) SELECT name, category, yield_quantity, yield_unit, is_archived, date_added,"
        " last_modified, 'dup-' || uuid, created_at, updated_at FROM recipes WHERE name = 'Grandma''s Sugar Cookies'"
    )
    conn.commit()
    conn.close()
    with pytest.raises(InvalidDocument, match="ambiguous"):
        import_document(fixture_export, staging, progress=False)
    assert _count(staging, "production_runs") == 0
    assert _count(staging, "production_consumptions") == 0


def test_missing_recipe_refuses_the_whole_document(fixture_export: Path, staging: Path, tmp_path: Path, cli) -> None:
    doc = json.loads(fixture_export.read_text(encoding="utf-8"))
    doc["production_runs"][5]["recipe_name"] = "Nobody's Pie"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    result = cli("import", bad, staging, "--quiet")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Nobody's Pie" in lines[0]
    assert "nothing was imported" in lines[0]
    assert _count(staging, "production_runs") == 0


def test_import_into_a_v06_database_is_refused(fixture_export: Path, fixture_db: Path, cli) -> None:
    result = cli("import", fixture_export, fixture_db)
    assert result.returncode == 2 and "reset" in result.stderr
    assert _count(fixture_db, "production_runs") == 60


def test_full_backup_cannot_be_imported(fixture_full_backup: Path, staging: Path, cli) -> None:
    result = cli("import", fixture_full_backup, staging)
    assert result.returncode == 2 and "full backup" in result.stderr


def test_an_integer_too_long_to_read_is_one_clear_line(fixture_export: Path, staging: Path, cli) -> None:
    text = fixture_export.read_text(encoding="utf-8")
    bad = fixture_export.with_name("long.json")
    bad.write_text(text.replace('"num_batches": 2,', '"num_batches": ' + "9" * 5000 + ",", 1), encoding="utf-8")
    result = cli("import", bad, staging, "--quiet")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.stderr
    assert _count(staging, "production_runs") == 0
