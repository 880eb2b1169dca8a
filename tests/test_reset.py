"""Unit tests of `bakemigrate.reset`: the v0.7 staging database built from a v0.6 one, and its refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bakemigrate.errors import MigrationError
from bakemigrate.reset import create_v07_production_tables, reset
from bakemigrate.tables import PRODUCTION_TABLES_V07, user_tables, v07_ddl

_PRODUCTION_SQL = (
    "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
    " AND tbl_name IN ('production_runs', 'production_consumptions', 'production_losses')"
)


def _row_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in user_tables(conn)}
    finally:
        conn.close()


def test_reset_copies_every_table_and_recreates_production_empty_at_v07(fixture_db: Path, tmp_path: Path) -> None:
    staging = tmp_path / "staging.db"
    before = fixture_db.read_bytes()
    result = reset(fixture_db, staging)
    assert (result.path, result.source, result.kept_tables) == (staging, fixture_db, 27)
    assert result.summary_line() == (
        f"staging database {staging}: 27 tables copied unchanged, production tables recreated empty in v0.7 shape"
    )
    source, copied = _row_counts(fixture_db), _row_counts(staging)
    assert {t: copied[t] for t in PRODUCTION_TABLES_V07} == {t: 0 for t in PRODUCTION_TABLES_V07}
    assert {t: n for t, n in copied.items() if t not in PRODUCTION_TABLES_V07} == {
        t: n for t, n in source.items() if t not in PRODUCTION_TABLES_V07
    }
    conn = sqlite3.connect(staging)
    try:
        assert dict(conn.execute(_PRODUCTION_SQL).fetchall()) == v07_ddl()
    finally:
        conn.close()
    assert fixture_db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bake_tracker.db", "staging.db"]


def test_reset_refuses_an_existing_staging_file_unless_forced(fixture_db: Path, tmp_path: Path) -> None:
    staging = tmp_path / "staging.db"
    staging.write_bytes(b"not yet")
    with pytest.raises(MigrationError) as info:
        reset(fixture_db, staging)
    assert str(info.value) == f"{staging}: already exists (use --force to replace it)"
    assert staging.read_bytes() == b"not yet"
    assert reset(fixture_db, staging, force=True).kept_tables == 27
    assert _row_counts(staging)["production_losses"] == 0


def test_reset_refuses_the_original_as_its_staging_file(fixture_db: Path) -> None:
    with pytest.raises(MigrationError) as info:
        reset(fixture_db, fixture_db, force=True)
    assert str(info.value) == f"{fixture_db}: the staging database must not be the original"
    assert _row_counts(fixture_db)["production_runs"] == 60


def test_reset_refuses_a_v07_database(fixture_db: Path, tmp_path: Path) -> None:
    staging = tmp_path / "staging.db"
    reset(fixture_db, staging)
    with pytest.raises(MigrationError) as info:
        reset(staging, tmp_path / "again.db")
    assert str(info.value) == f"{staging}: already at bake-tracker v0.7; nothing to reset"
    assert not (tmp_path / "again.db").exists()


def test_reset_refuses_a_missing_folder(fixture_db: Path, tmp_path: Path) -> None:
    staging = tmp_path / "absent" / "staging.db"
    with pytest.raises(MigrationError) as info:
        reset(fixture_db, staging)
    assert str(info.value) == f"{staging}: the folder {staging.parent} does not exist"


def test_create_v07_production_tables_keeps_the_databases_own_index_word_for_word(fixture_db: Path) -> None:
    own = "CREATE INDEX my_runs_by_notes ON production_runs (notes)"
    conn = sqlite3.connect(fixture_db, isolation_level=None)
    try:
        conn.execute(own)
        create_v07_production_tables(conn)
        objects = dict(conn.execute(_PRODUCTION_SQL).fetchall())
        runs = conn.execute("SELECT count(*) FROM production_runs").fetchone()[0]
    finally:
        conn.close()
    assert objects == {**v07_ddl(), "my_runs_by_notes": own}
    assert runs == 0
