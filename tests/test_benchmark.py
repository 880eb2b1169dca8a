"""The benchmark stays runnable, and its floor is the migration it claims to be.

Speed is not asserted (the machine is shared and noisy): these tests run the benchmark at a tiny
size and check that it produces a complete table, and that the floor migration really leaves a
v0.7 database with every run complete, no loss, and the same rows as the original.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from bakemigrate.demo import demo as make_demo  # `demo` is this module's fixture
from bakemigrate.tables import V07_TABLES, detect_schema_version, production_runs_v06, table_columns

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def floor():
    return load("floor")


@pytest.fixture(scope="module")
def run():
    return load("run")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("bench") / "demo.db"
    make_demo(db, runs=150, seed=7)
    return db


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_floor_builds_v07_tables_with_the_same_rows(floor, demo: Path, tmp_path: Path) -> None:
    result = floor.floor_migration(demo, tmp_path / "floor.db")
    copy = tmp_path / "floor.db"
    with sqlite3.connect(copy) as conn:
        assert detect_schema_version(conn) == "0.7"
        for table in V07_TABLES:
            assert table_columns(conn, table.name) == [c.name for c in table.columns]
    v06_columns = ", ".join(c.name for c in production_runs_v06.columns)
    original_runs = rows(demo, f"SELECT {v06_columns} FROM production_runs ORDER BY id")
    floor_runs = rows(copy, f"SELECT {v06_columns} FROM production_runs ORDER BY id")
    assert len(original_runs) == 150 and floor_runs == original_runs
    assert rows(copy, "SELECT DISTINCT production_status, loss_quantity FROM production_runs") == [("complete", 0)]
    assert rows(copy, "SELECT count(*) FROM production_losses") == [(0,)]
    consumptions = "SELECT * FROM production_consumptions ORDER BY id"
    assert rows(copy, consumptions) == rows(demo, consumptions) and len(rows(demo, consumptions)) > 150
    assert rows(copy, "PRAGMA integrity_check") == [("ok",)]
    assert rows(copy, "PRAGMA foreign_key_check") == []
    assert (result.runs, result.consumptions) == (150, len(rows(demo, consumptions)))
    assert result.total == pytest.approx(result.copy + result.rebuild)
    # the original is only read
    assert rows(demo, "SELECT count(*) FROM sqlite_master WHERE name = 'production_losses'") == [(0,)]


def test_floor_as_a_process_prints_its_timings(run, demo: Path, tmp_path: Path) -> None:
    child = run.run_child([sys.executable, str(BENCHMARKS / "floor.py"), str(demo), str(tmp_path / "f.db")])
    facts = json.loads(child.stdout)
    assert facts["runs"] == 150 and facts["total"] > 0
    assert child.max_rss_mb > 1


def test_tiny_benchmark_produces_a_full_table(run, tmp_path: Path) -> None:
    output = tmp_path / "latest.md"
    assert run.main(["--sizes", "200", "--repeat", "1", "--no-notebook", "--output", str(output),
                     "--scratch", str(tmp_path)]) == 0
    text = output.read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| runs"))
    row = next(line for line in text.splitlines() if line.startswith("| 200 "))
    columns = [c.strip() for c in header.strip("|").split("|")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    for name in (*run.STEPS, "steps total", "migrate (process)", "floor", "ratio to floor", "peak RSS MB",
                 "JSON MB"):
        assert name in columns
    assert len(cells) == len(columns) and all(cells)
    values = dict(zip(columns, cells, strict=True))
    assert float(values["floor"]) > 0 and float(values["migrate (process)"]) > float(values["floor"])
    assert values["ratio to floor"].endswith("x") and float(values["peak RSS MB"]) > 10
    record = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
    size = record["sizes"][0]
    assert size["runs"] == 200 and set(run.STEPS) <= set(size["steps"])
    assert size["ratio"] == pytest.approx(size["migrate"] / size["floor"])
    assert "Headless notebook" in text


def test_markdown_reports_scaling_between_10k_and_100k(run) -> None:
    def size(runs: int, seconds: float, rss: float):
        return run.SizeResult(runs=runs, consumptions=4 * runs, db_mb=1.0, floor=1.0,
                              steps={s: 0.1 for s in ("preflight", *run.STEPS)}, migrate=seconds,
                              migrate_rss_mb=rss, json_mb=2.0)

    text = run.render_markdown([size(10_000, 2.0, 100.0), size(100_000, 16.0, 250.0)],
                               {"available": False, "reason": "not available: test"},
                               {"machine": "m", "python": "3", "sqlite": "3", "repeat": 1, "date": "d"})
    assert "total time x8.0" in text and "peak RSS x2.5" in text
    assert "Headless notebook: not available: test." in text


def test_step_floors_do_each_step_on_its_own_and_leave_nothing(floor, demo: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    times = floor.step_floors(demo, scratch)
    assert set(times) == {"backup", "export", "import", "verify", "switch"}
    assert all(seconds > 0 for seconds in times.values())
    assert list(scratch.iterdir()) == []


def test_markdown_names_the_step_closest_to_its_floor_and_the_farthest(run) -> None:
    steps = {"preflight": 0.1, "backup": 0.2, "export": 3.0, "transform": 0.0, "reset": 0.5, "import": 4.0,
             "verify": 6.0, "switch": 0.1}
    result = run.SizeResult(runs=100_000, consumptions=400_000, db_mb=1.0, floor=1.0, steps=steps, migrate=14.0,
                            migrate_rss_mb=300.0, json_mb=2.0,
                            step_floors={"backup": 0.1, "export": 1.0, "import": 1.0, "verify": 1.0, "switch": 0.05},
                            step_peaks_mb={s: 100.0 + i for i, s in enumerate(run.STEPS)})
    lines = run.step_floor_table([result])
    assert "| verify | 6.00 (6.0×) | 105 |" in lines
    assert "| transform | 0.00 | 102 |" in lines
    assert lines[-1].startswith("At 100,000 runs the step closest to its own floor is **backup** (2.0×)")
    assert "the farthest is **verify** (6.0×)" in lines[-1]
