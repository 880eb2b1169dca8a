"""The import step: v1.0 and v1.1 documents, the app's own file, references, all or nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bakemigrate.errors import InvalidDocument
from bakemigrate.exporter import export
from bakemigrate.importer import APP_FILE_WARNING, import_
from bakemigrate.reset import reset
from bakemigrate.transform import transform


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
    transform(v10, v11, infer_losses=True)
    doc = json.loads(v11.read_text(encoding="utf-8"))
    expected_losses = {loss["uuid"]: (run["uuid"], loss) for run in doc["production_runs"] for loss in run["losses"]}
    assert len(expected_losses) == 16
    report = import_(v11, staging, progress=False)
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
    import_(v10, staging, progress=False)
    query = ("SELECT id, uuid, event_id, recipe_id, finished_unit_id, produced_at, created_at, updated_at "
             "FROM production_runs ORDER BY id")
    assert sqlite3.connect(staging).execute(query).fetchall() == sqlite3.connect(fixture_db).execute(query).fetchall()


def test_duplicate_uuids_are_skipped_and_reported(fixture_db: Path, staging: Path, tmp_path: Path) -> None:
    v10 = tmp_path / "v10.json"
    export(fixture_db, v10, progress=False)
    import_(v10, staging, progress=False)
    again = import_(v10, staging, progress=False)
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
        import_(fixture_export, staging, progress=False)
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
    assert result.returncode == 2
    assert result.stderr == f"error: {fixture_db}: not a v0.7 database; run `bakemigrate reset` first\n"
    assert _count(fixture_db, "production_runs") == 60


def test_full_backup_cannot_be_imported(fixture_full_backup: Path, staging: Path, cli) -> None:
    result = cli("import", fixture_full_backup, staging)
    assert result.returncode == 2
    assert result.stderr == (f"error: {fixture_full_backup}: a full backup cannot be imported; "
                             "use a production-history export\n")


def test_an_integer_too_long_to_read_is_one_clear_line(fixture_export: Path, staging: Path, cli) -> None:
    text = fixture_export.read_text(encoding="utf-8")
    bad = fixture_export.with_name("long.json")
    bad.write_text(text.replace('"num_batches": 2,', '"num_batches": ' + "9" * 5000 + ",", 1), encoding="utf-8")
    result = cli("import", bad, staging, "--quiet")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.stderr
    assert _count(staging, "production_runs") == 0


def _v10_runs(fixture_db: Path, tmp_path: Path) -> dict:
    v10 = tmp_path / "v10.json"
    export(fixture_db, v10, progress=False)
    return json.loads(v10.read_text(encoding="utf-8"))


def _write(doc: dict, path: Path) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_repeats_are_found_across_chunks_of_runs(fixture_db: Path, staging: Path, tmp_path: Path,
                                                 monkeypatch) -> None:
    """The uuids met are checked in the database chunk by chunk: a repeat far from its first is still found."""
    from bakemigrate import importer

    monkeypatch.setattr(importer, "CHUNK_RUNS", 4)
    doc = _v10_runs(fixture_db, tmp_path)
    runs = doc["production_runs"]
    same = {**doc, "production_runs": [*runs, json.loads(json.dumps(runs[1], sort_keys=True))]}
    report = import_(_write(same, tmp_path / "same.json"), staging, progress=False)
    assert report.runs == 60 and report.skipped == [runs[1]["uuid"]]
    assert (f"1 runs repeat an earlier run of the document exactly (first: production_runs[60] is "
            f"production_runs[1], uuid {runs[1]['uuid']}): each is imported once") in report.warnings

    fresh = tmp_path / "fresh.db"
    reset(fixture_db, fresh)
    edited = {**doc, "production_runs": [*runs, {**runs[2], "notes": "edited later"}]}
    with pytest.raises(InvalidDocument, match=r"production_runs\[60\] and production_runs\[2\] have the same uuid"):
        import_(_write(edited, tmp_path / "edited.json"), fresh, progress=False)
    child = json.loads(json.dumps(runs))
    child[50]["consumptions"][0]["uuid"] = child[0]["consumptions"][1]["uuid"]
    with pytest.raises(InvalidDocument, match=rf"production_runs\[50\]\.consumptions\[0\]: uuid "
                                              rf"{child[0]['consumptions'][1]['uuid']} appears twice"):
        import_(_write({**doc, "production_runs": child}, tmp_path / "child.json"), fresh, progress=False)
    assert _count(fresh, "production_runs") == 0


def test_the_runs_an_import_refuses_are_listed_up_to_ten_with_the_total(
    fixture_db: Path, staging: Path, tmp_path: Path
) -> None:
    from bakemigrate.formats import MAX_ERRORS_SHOWN

    doc = _v10_runs(fixture_db, tmp_path)
    runs = doc["production_runs"]
    edited = {**doc, "production_runs": [*runs, *({**run, "notes": "edited later"} for run in runs[:12])]}
    path = _write(edited, tmp_path / "edited.json")
    with pytest.raises(InvalidDocument) as refused:
        import_(path, staging, progress=False)
    message = str(refused.value)
    assert message.startswith(f"{path}: 12 runs cannot be imported, nothing was imported: production_runs[60] and "
                              "production_runs[0] have the same uuid ")
    assert message.count("have the same uuid") == MAX_ERRORS_SHOWN == 10
    assert message.endswith(f"; ... (12 problems in total, the first {MAX_ERRORS_SHOWN} shown)")
    assert _count(staging, "production_runs") == 0


def test_a_taken_id_and_a_stored_run_are_found_across_chunks(fixture_db: Path, staging: Path, tmp_path: Path,
                                                             monkeypatch) -> None:
    from bakemigrate import importer

    monkeypatch.setattr(importer, "CHUNK_RUNS", 3)
    doc = _v10_runs(fixture_db, tmp_path)
    runs = doc["production_runs"]
    import_(_write({**doc, "production_runs": runs[:30]}, tmp_path / "first.json"), staging, progress=False)
    twin = json.loads(json.dumps(runs[0]))  # another run with run 0's id: it gets a new one
    twin["uuid"] = "00000000-0000-4000-8000-000000000001"
    for j, c in enumerate(twin["consumptions"]):
        c["uuid"], c["id"] = f"00000000-0000-4000-8000-1000000000{j:02d}", None
    report = import_(_write({**doc, "production_runs": [*runs, twin]}, tmp_path / "all.json"), staging,
                             progress=False)
    assert report.runs == 31 and report.skipped == [r["uuid"] for r in runs[:30]]
    conn = sqlite3.connect(staging)
    top = max(r["id"] for r in runs)
    assert conn.execute("SELECT id FROM production_runs WHERE uuid = ?", (twin["uuid"],)).fetchone() == (top + 1,)
    assert conn.execute("SELECT count(*) FROM production_runs").fetchone() == (61,)
    conn.close()


@pytest.mark.slow
def test_import_memory_does_not_grow_with_the_history(tmp_path: Path, monkeypatch) -> None:
    """Python's peak during the import is the same for 8,000 and 20,000 runs (read in blocks of one size):
    no uuid is kept per run."""
    import subprocess
    import sys
    import tracemalloc

    from bakemigrate import importer

    monkeypatch.setattr(importer, "CHUNK_RUNS", 50)
    monkeypatch.setattr(importer, "BATCH_ROWS", 200)
    made = {}
    for runs in (8000, 20000):
        db, doc, target = tmp_path / f"{runs}.db", tmp_path / f"{runs}.json", tmp_path / f"{runs}-staging.db"
        subprocess.run([sys.executable, "-m", "bakemigrate", "demo", str(db), "--runs", str(runs)], check=True,
                       capture_output=True)
        export(db, doc, progress=False)
        reset(db, target)
        made[runs] = (doc, target)
    warm = tmp_path / "warm.db"
    reset(tmp_path / "8000.db", warm)
    import_(made[8000][0], warm, progress=False)  # every module loaded before measuring
    peaks = []
    for runs, (doc, target) in made.items():
        tracemalloc.start()
        try:
            report = import_(doc, target, progress=False, trusted=True)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert report.runs == runs
    assert peaks[1] - peaks[0] < 2_000_000, peaks
