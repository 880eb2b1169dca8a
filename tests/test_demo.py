"""The demo step: a seeded sample v0.6 database, structurally the app's own and full of edge cases."""

from __future__ import annotations

import re
import shutil
import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import Ran, run_main
from fixture_paths import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bakemigrate.demo import EDGE_CASES, LONG_NOTE, RECIPES, demo, uuid4_text
from bakemigrate.errors import MigrationError

REPO = Path(__file__).resolve().parents[1]
SHIPPED_DDL = REPO / "bakemigrate" / "sql" / "schema_v0.6.sql"

DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --------------------------------------------------------------------------------------------- helpers


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
    return [r[0] for r in rows]


def _all_rows(path: Path) -> dict[str, list[tuple]]:
    with _connect(path) as conn:
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY id').fetchall() for t in _tables(conn)}


def _schema(path: Path) -> tuple[set[tuple], dict[str, list[tuple]]]:
    """sqlite_master entries and PRAGMA table_info of every table."""
    with _connect(path) as conn:
        master = set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        info = {t: conn.execute(f'PRAGMA table_info("{t}")').fetchall() for t in _tables(conn)}
    return master, info


def _db_from_shipped_ddl(path: Path) -> None:
    """A database built straight from the shipped DDL file: every table, then every index."""
    text = SHIPPED_DDL.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements = [s.strip() for s in body.split(";") if s.strip()]
    ordered = [s for s in statements if s.startswith("CREATE TABLE")] + [
        s for s in statements if not s.startswith("CREATE TABLE")
    ]
    conn = sqlite3.connect(path)
    for statement in ordered:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _runs(path: Path) -> dict[int, dict]:
    with _connect(path) as conn:
        conn.row_factory = sqlite3.Row
        runs = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM production_runs")}
        for run in runs.values():
            run["consumptions"] = []
        for c in conn.execute("SELECT * FROM production_consumptions ORDER BY id"):
            runs[c["production_run_id"]]["consumptions"].append(dict(c))
        units = {r["id"]: dict(r) for r in conn.execute("SELECT * FROM finished_units")}
        recipes = {r["id"]: r["name"] for r in conn.execute("SELECT id, name FROM recipes")}
    for run in runs.values():
        run["unit"] = units[run["finished_unit_id"]]
        run["recipe_name"] = recipes[run["recipe_id"]]
    return runs


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")


def _assert_edge_case(run_id: int, run: dict, runs: dict[int, dict]) -> None:
    """The run carries every property its edge case asks for."""
    case = EDGE_CASES[run_id]
    expected, actual = run["expected_yield"], run["actual_yield"]
    if case.note is not None or case.note_is_null:
        assert run["notes"] == case.note
    if case.event_linked is not None:
        assert (run["event_id"] is not None) == case.event_linked
    kinds = {
        "equal": actual == expected,
        "zero": actual == 0,
        "over": actual > expected,
        "short": 0 < actual < expected,
    }
    if case.yield_kind is not None:
        assert kinds[case.yield_kind], (run_id, expected, actual)
    if case.batch_portion is not None:
        assert (run["unit"]["yield_mode"] == "BATCH_PORTION") == case.batch_portion
    if case.recipe is not None:
        assert run["recipe_name"] == case.recipe
    if case.orm_consumptions is not None:
        assert len(run["consumptions"]) == case.orm_consumptions
    if case.zero_cost:
        assert run["total_ingredient_cost"] == 0 and run["per_unit_cost"] == 0
        assert all(c["total_cost"] == 0 for c in run["consumptions"])
    if case.whole_second:
        assert run["produced_at"].endswith(".000000")
    if case.same_time_as_previous:
        assert run["produced_at"] == runs[run_id - 1]["produced_at"]


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    summary = demo(path, runs=200, seed=1)
    assert summary.path == path
    return path


@pytest.fixture(scope="module")
def demo_runs(demo_db: Path) -> dict[int, dict]:
    return _runs(demo_db)


# --------------------------------------------------------------------------------------------- schema


def test_schema_is_the_shipped_v06_ddl(demo_db: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference.db"
    _db_from_shipped_ddl(reference)
    demo_master, demo_info = _schema(demo_db)
    ref_master, ref_info = _schema(reference)
    assert len(ref_master) == 201  # 29 tables, 162 declared indexes and 10 automatic ones
    assert demo_master == ref_master
    assert demo_info == ref_info


def test_schema_is_the_one_the_app_made(demo_db: Path, tmp_path: Path) -> None:
    if not (FIXTURES / "bake_tracker.db").exists():
        pytest.fail(f"fixture missing: {FIXTURES / 'bake_tracker.db'}")
    app_db = tmp_path / "app.db"
    shutil.copyfile(FIXTURES / "bake_tracker.db", app_db)
    assert _schema(demo_db) == _schema(app_db)


# --------------------------------------------------------------------------------------------- content


def test_row_counts_and_summary(tmp_path: Path) -> None:
    path = tmp_path / "counts.db"
    summary = demo(path, runs=137, seed=3)
    with _connect(path) as conn:
        runs = conn.execute("SELECT count(*) FROM production_runs").fetchone()[0]
        consumptions = conn.execute("SELECT count(*) FROM production_consumptions").fetchone()[0]
        real_counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in _tables(conn)}
        per_recipe = conn.execute(
            "SELECT min(n), max(n) FROM (SELECT count(*) n FROM finished_units GROUP BY recipe_id)"
        ).fetchone()
    assert runs == summary.runs == 137
    assert consumptions == summary.consumptions
    assert summary.table_counts == real_counts
    assert real_counts["recipes"] == len(RECIPES)
    assert real_counts["events"] >= 3 and real_counts["units"] == 35
    for table in (
        "ingredients",
        "products",
        "purchase_history",
        "inventory_items",
        "recipients",
        "recipe_ingredients",
        "event_production_targets",
        "packages",
    ):
        assert real_counts[table] > 0, table
    assert per_recipe == (2, 4)
    assert summary.summary_line() == (
        f"demo database {path}: 137 production runs, {consumptions} consumptions, "
        f"{len(RECIPES)} recipes, {real_counts['events']} events (seed 3)"
    )


def test_consumptions_average_about_four_from_zero_to_eight(demo_runs: dict[int, dict]) -> None:
    counts = [len(r["consumptions"]) for r in demo_runs.values()]
    assert min(counts) == 0 and max(counts) == 8
    assert 3.5 <= sum(counts) / len(counts) <= 5.0


def test_every_edge_case_is_present(demo_runs: dict[int, dict]) -> None:
    for run_id in EDGE_CASES:
        _assert_edge_case(run_id, demo_runs[run_id], demo_runs)


def test_edge_cases_by_query(demo_db: Path) -> None:
    """The fixture README's list, each found by a query of its own."""
    queries = {
        "shortfall": "SELECT count(*) FROM production_runs WHERE actual_yield BETWEEN 1 AND expected_yield - 1",
        "total loss": "SELECT count(*) FROM production_runs WHERE actual_yield = 0",
        "over-yield": "SELECT count(*) FROM production_runs WHERE actual_yield > expected_yield",
        "note NULL": "SELECT count(*) FROM production_runs WHERE notes IS NULL",
        "note empty": "SELECT count(*) FROM production_runs WHERE notes = ''",
        "LF": "SELECT count(*) FROM production_runs WHERE instr(notes, char(10)) > 0",
        "CRLF": "SELECT count(*) FROM production_runs WHERE instr(notes, char(13, 10)) > 0",
        "TAB": "SELECT count(*) FROM production_runs WHERE instr(notes, char(9)) > 0",
        "backslash": "SELECT count(*) FROM production_runs WHERE instr(notes, '\\') > 0",
        "double quote": "SELECT count(*) FROM production_runs WHERE instr(notes, '\"') > 0",
        "apostrophe": "SELECT count(*) FROM production_runs WHERE instr(notes, '''') > 0",
        "ZWJ emoji": "SELECT count(*) FROM production_runs WHERE instr(notes, char(8205)) > 0",
        "long note": "SELECT count(*) FROM production_runs WHERE length(notes) >= 2000",
        "event-linked": "SELECT count(*) FROM production_runs WHERE event_id IS NOT NULL",
        "standalone": "SELECT count(*) FROM production_runs WHERE event_id IS NULL",
        "BATCH_PORTION run": "SELECT count(*) FROM production_runs r JOIN finished_units u "
        "ON u.id = r.finished_unit_id WHERE u.items_per_batch IS NULL",
        "total cost 0": "SELECT count(*) FROM production_runs WHERE total_ingredient_cost = 0",
        "per-unit cost 0": "SELECT count(*) FROM production_runs WHERE per_unit_cost = 0",
        "consumption cost 0": "SELECT count(*) FROM production_consumptions WHERE total_cost = 0",
        "cost 0 with consumptions": "SELECT count(*) FROM production_runs r WHERE total_ingredient_cost = 0 "
        "AND EXISTS (SELECT 1 FROM production_consumptions c WHERE c.production_run_id = r.id)",
        "0 consumptions": "SELECT count(*) FROM production_runs r WHERE NOT EXISTS "
        "(SELECT 1 FROM production_consumptions c WHERE c.production_run_id = r.id)",
        "8 consumptions": "SELECT count(*) FROM (SELECT production_run_id FROM production_consumptions "
        "GROUP BY production_run_id HAVING count(*) = 8)",
        "microsecond 0": "SELECT count(*) FROM production_runs WHERE produced_at LIKE '%.000000'",
        "unrounded cost": "SELECT count(*) FROM production_runs WHERE total_ingredient_cost "
        "<> round(total_ingredient_cost, 4) AND per_unit_cost <> round(per_unit_cost, 4)",
        "unrounded consumption": "SELECT count(*) FROM production_consumptions "
        "WHERE total_cost <> round(total_cost, 4)",
        "non-ASCII slug": "SELECT count(*) FROM finished_units WHERE slug GLOB '*[^ -~]*'",
        "recipe apostrophe": "SELECT count(*) FROM recipes WHERE instr(name, '''') > 0",
        "recipe double quote": "SELECT count(*) FROM recipes WHERE instr(name, '\"') > 0",
        "event em dash": "SELECT count(*) FROM events WHERE instr(name, '—') > 0",
        "event quotes": "SELECT count(*) FROM events WHERE instr(name, '\"') > 0",
    }
    with _connect(demo_db) as conn:
        missing = [name for name, sql in queries.items() if conn.execute(sql).fetchone()[0] == 0]
        shared = conn.execute(
            "SELECT count(*) FROM (SELECT produced_at FROM production_runs GROUP BY produced_at HAVING count(*) > 1)"
        ).fetchone()[0]
        by_id = [r[0] for r in conn.execute("SELECT id FROM production_runs ORDER BY id")]
        by_time = [r[0] for r in conn.execute("SELECT id FROM production_runs ORDER BY produced_at, id")]
        emoji = conn.execute("SELECT notes FROM production_runs WHERE id = 1").fetchone()[0]
    assert missing == []
    assert shared == 1  # exactly the deliberate pair
    assert by_id != by_time
    assert any(ord(ch) > 0xFFFF for ch in emoji)
    assert len(LONG_NOTE) == 2290


def test_names_and_slugs(demo_db: Path) -> None:
    with _connect(demo_db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM recipes")]
        modes = conn.execute(
            "SELECT DISTINCT yield_mode, items_per_batch IS NULL FROM finished_units ORDER BY 1"
        ).fetchall()
        ingredient_slugs = [r[0] for r in conn.execute("SELECT slug FROM ingredients")]
        consumed = {r[0] for r in conn.execute("SELECT DISTINCT ingredient_slug FROM production_consumptions")}
    assert len(names) == len(set(names))  # the app's import finds a recipe by name
    assert any(re.search(r"[\u4e00-\u9fff]", n) for n in names)
    assert any(re.search(r"[^\x00-\x7f]", n) and not re.search(r"[\u4e00-\u9fff]", n) for n in names)
    assert modes == [("BATCH_PORTION", 1), ("DISCRETE_COUNT", 0)]
    assert all(re.fullmatch(r"[a-z_]+", s) for s in ingredient_slugs)
    assert consumed <= set(ingredient_slugs)


def test_values_are_stored_as_the_app_stores_them(demo_db: Path) -> None:
    with _connect(demo_db) as conn:
        for table in _tables(conn):
            for _, column, declared, *_ in conn.execute(f'PRAGMA table_info("{table}")'):
                values = conn.execute(
                    f'SELECT DISTINCT typeof("{column}"), "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
                ).fetchall()
                if declared == "DATETIME":
                    assert all(t == "text" and DATETIME_RE.match(v) for t, v in values), (table, column)
                elif declared == "DATE":
                    assert all(t == "text" and DATE_RE.match(v) for t, v in values), (table, column)
                elif declared.startswith("NUMERIC"):
                    assert all(t in ("real", "integer") for t, _ in values), (table, column)
                    assert all(isinstance(v, int) or v != int(v) for t, v in values), (table, column)


def test_production_rules_hold(demo_runs: dict[int, dict]) -> None:
    for run in demo_runs.values():
        per_batch = run["unit"]["items_per_batch"]
        assert run["expected_yield"] == run["num_batches"] * (per_batch or 1)
        assert run["unit"]["recipe_id"] == run["recipe_id"]
        stamp = _stamp_plus(run["produced_at"], 41.25)
        assert run["created_at"] == run["updated_at"] == stamp
        assert all(c["created_at"] == stamp for c in run["consumptions"])
        total = run["total_ingredient_cost"]
        assert total == pytest.approx(sum(c["total_cost"] for c in run["consumptions"]), abs=1e-4)
        if run["actual_yield"] == 0:
            assert run["per_unit_cost"] == 0
        else:
            assert run["per_unit_cost"] == pytest.approx(total / run["actual_yield"], abs=6e-5)
        assert all(c["quantity_consumed"] > 0 and c["total_cost"] >= 0 for c in run["consumptions"])


def _stamp_plus(stamp: str, seconds: float) -> str:
    return (_parse(stamp) + timedelta(seconds=seconds)).isoformat(sep=" ", timespec="microseconds")


def test_uuids_are_unique_version_4(demo_db: Path) -> None:
    rows = _all_rows(demo_db)
    with _connect(demo_db) as conn:
        uuids = [v for t in _tables(conn) for (v,) in conn.execute(f'SELECT uuid FROM "{t}"')]
    assert sum(len(r) for r in rows.values()) == len(uuids) == len(set(uuids))
    assert all(uuid.UUID(u).version == 4 and str(uuid.UUID(u)) == u for u in uuids)


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_uuid_text_matches_the_standard_library(bits: int) -> None:
    assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


# --------------------------------------------------------------------------------------------- soundness


def test_integrity_foreign_keys_and_journal(demo_db: Path) -> None:
    with _connect(demo_db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    header = demo_db.read_bytes()[:20]
    assert header[18:20] == b"\x01\x01"  # rollback journal, not WAL
    leftovers = sorted(p.name for p in demo_db.parent.iterdir() if p.name != demo_db.name)
    assert leftovers == []


def test_same_seed_same_rows_other_seed_other_rows(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    demo(a, runs=60, seed=42)
    demo(b, runs=60, seed=42)
    demo(c, runs=60, seed=43)
    rows_a, rows_b, rows_c = _all_rows(a), _all_rows(b), _all_rows(c)
    assert rows_a == rows_b
    assert sum(len(r) for r in rows_a.values()) > 60
    assert rows_a["production_runs"] != rows_c["production_runs"]
    assert rows_a["recipes"] != rows_c["recipes"]  # uuids differ
    assert [r[0] for r in rows_a["recipes"]] == [r[0] for r in rows_c["recipes"]]  # same bakery


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=st.integers(min_value=0, max_value=18), seed=st.integers(min_value=-(2**40), max_value=2**40))
def test_small_databases_are_valid_and_cover_what_fits(tmp_path: Path, runs: int, seed: int) -> None:
    path = tmp_path / f"small_{runs}_{seed}.db"
    summary = demo(path, runs=runs, seed=seed, force=True)
    assert summary.runs == runs
    with _connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM production_runs").fetchone()[0] == runs
        assert conn.execute("SELECT count(*) FROM recipes").fetchone()[0] == len(RECIPES)
    runs_by_id = _runs(path)
    assert sorted(runs_by_id) == list(range(1, runs + 1))
    for run_id in runs_by_id:
        if run_id in EDGE_CASES:
            _assert_edge_case(run_id, runs_by_id[run_id], runs_by_id)


def test_zero_runs(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    summary = demo(path, runs=0)
    assert (summary.runs, summary.consumptions) == (0, 0)
    assert summary.table_counts["production_runs"] == 0
    assert summary.table_counts["finished_units"] > 0


def test_progress_bar_does_not_change_the_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bakemigrate.demo as demo_module

    monkeypatch.setattr(demo_module, "PROGRESS_THRESHOLD", 1)
    demo(tmp_path / "a.db", runs=30, seed=5, progress=True)
    demo(tmp_path / "b.db", runs=30, seed=5, progress=False)
    assert _all_rows(tmp_path / "a.db") == _all_rows(tmp_path / "b.db")


# --------------------------------------------------------------------------------------------- refusals


def test_refuses_an_existing_file_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "taken.db"
    path.write_bytes(b"precious")
    with pytest.raises(MigrationError, match="already exists") as info:
        demo(path, runs=5)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.db"]


def test_force_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "taken.db"
    path.write_bytes(b"precious")
    demo(path, runs=5, force=True)
    with _connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM production_runs").fetchone()[0] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.db"]


@pytest.mark.parametrize(
    ("where", "runs", "message"),
    [
        ("missing/demo.db", 5, "does not exist"),
        ("demo.db", -1, "--runs"),
        (".", 5, "is a folder"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(tmp_path: Path, where: str, runs: int, message: str) -> None:
    with pytest.raises(MigrationError, match=message) as info:
        demo(tmp_path / where, runs=runs)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------- CLI


def _cli(*args: str, cwd: Path) -> Ran:
    """``bakemigrate demo ARGS`` run from the folder ``cwd``."""
    return run_main("demo", *args, cwd=cwd)


def test_cli_creates_then_refuses(tmp_path: Path) -> None:
    done = _cli("bakery.db", "--runs", "25", "--seed", "7", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo database bakery.db: 25 production runs, ")
    assert lines[0].endswith("(seed 7)")
    before = (tmp_path / "bakery.db").read_bytes()

    again = _cli("bakery.db", "--runs", "3", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stdout == ""
    assert again.stderr.splitlines() == [again.stderr.strip()]
    assert again.stderr.startswith("error: ") and "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert (tmp_path / "bakery.db").read_bytes() == before


def test_cli_same_seed_as_the_function(tmp_path: Path) -> None:
    assert _cli("cli.db", "--runs", "40", "--seed", "9", cwd=tmp_path).returncode == 0
    demo(tmp_path / "api.db", runs=40, seed=9)
    assert _all_rows(tmp_path / "cli.db") == _all_rows(tmp_path / "api.db")


def test_cli_negative_runs_is_refused(tmp_path: Path) -> None:
    done = _cli("x.db", "--runs", "-3", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
