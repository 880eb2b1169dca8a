"""Unit tests of `bakemigrate.exporter`: the export document, its order, its extension keys, its refusals."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from fixture_paths import FIXTURES

from bakemigrate.errors import MigrationError
from bakemigrate.exporter import CHILD_EXTENSION_KEYS, RUN_EXTENSION_KEYS, export, iter_runs, write_document


def _app_keys_only(run: dict) -> dict:
    """``run`` without bakemigrate's extension keys: what the app's own export holds."""
    kept = {k: v for k, v in run.items() if k not in RUN_EXTENSION_KEYS and k != "stored_values"}
    kept["consumptions"] = [
        {k: v for k, v in c.items() if k not in CHILD_EXTENSION_KEYS and k != "stored_values"}
        for c in run["consumptions"]
    ]
    return kept


def test_export_result_counts_the_fixture_and_names_the_file(fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "v10.json"
    result = export(fixture_db, out, progress=False)
    assert (result.path, result.version, result.runs, result.consumptions, result.losses) == (out, "1.0", 60, 271, 0)
    assert result.size_bytes == out.stat().st_size
    assert result.summary_line() == (
        f"exported 60 production runs, 271 consumptions to {out} (version 1.0, {result.size_bytes:,} bytes)"
    )


def test_export_without_extension_keys_is_the_apps_own_export(fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "v10.json"
    export(fixture_db, out, progress=False)
    ours = json.loads(out.read_text(encoding="utf-8"))
    app = json.loads((FIXTURES / "production_history_v1.0.json").read_text(encoding="utf-8"))
    assert list(ours) == ["version", "exported_at", "production_runs"]
    assert ours["version"] == app["version"] == "1.0"
    assert [_app_keys_only(run) for run in ours["production_runs"]] == app["production_runs"]


def test_iter_runs_yields_newest_first_with_the_extension_keys_after_the_apps(fixture_db: Path) -> None:
    conn = sqlite3.connect(fixture_db)
    try:
        runs = list(iter_runs(conn, "1.0"))
        order = [row[0] for row in conn.execute("SELECT id FROM production_runs ORDER BY produced_at DESC, id DESC")]
    finally:
        conn.close()
    assert [run["id"] for run in runs] == order
    assert order[:3] == [37, 45, 60]
    first = runs[0]
    assert list(first)[10:18] == ["consumptions", *RUN_EXTENSION_KEYS]
    assert "losses" not in first and "production_status" not in first
    # the stored value whose 4-decimal text does not give it back is kept as exact text
    sugar = first["consumptions"][0]
    assert (sugar["total_cost"], sugar["stored_values"]) == ("0.7109", {"total_cost": "0.7109375"})


def test_write_document_writes_what_json_dump_writes_and_counts_runs() -> None:
    header = {"version": "1.0", "exported_at": "2026-01-02T03:04:05"}
    runs = [{"uuid": "a", "notes": "crème brûlée"}, {"uuid": "b", "notes": None}]
    fh, advanced = io.BytesIO(), []
    count = write_document(fh, header, iter(runs), advanced.append)
    expected = json.dumps({**header, "production_runs": runs}, indent=2, ensure_ascii=False) + "\n"
    assert count == 2
    assert advanced == [1, 1]
    assert fh.getvalue() == expected.encode("utf-8")


def test_export_refuses_an_existing_output_and_leaves_it(fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "v10.json"
    out.write_text("keep me", encoding="utf-8")
    with pytest.raises(MigrationError) as info:
        export(fixture_db, out, progress=False)
    assert str(info.value) == f"{out}: already exists (use --force to replace it)"
    assert out.read_text(encoding="utf-8") == "keep me"
    assert export(fixture_db, out, force=True, progress=False).runs == 60
    assert json.loads(out.read_text(encoding="utf-8"))["version"] == "1.0"


def test_export_refuses_to_write_over_the_database(fixture_db: Path) -> None:
    before = fixture_db.read_bytes()
    with pytest.raises(MigrationError) as info:
        export(fixture_db, fixture_db, force=True, progress=False)
    assert str(info.value) == f"{fixture_db}: the output would replace the database itself"
    assert fixture_db.read_bytes() == before
