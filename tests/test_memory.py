"""Memory that must not grow with the size of the history, measured in child processes on demo databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bakemigrate.db import open_database

_RESET_CHILD = """
import json, resource, sys
from bakemigrate.reset import reset
import sqlalchemy, bakemigrate.tables  # loaded before measuring
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
reset(sys.argv[1], sys.argv[2])
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024))
"""


def _demo(folder: Path, runs: int) -> Path:
    db = folder / f"{runs}.db"
    subprocess.run([sys.executable, "-m", "bakemigrate", "demo", str(db), "--runs", str(runs)], check=True,
                   capture_output=True)
    return db


def _grown_bytes(code: str, *args: Path) -> int:
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_reset_memory_does_not_grow_with_the_production_tables(tmp_path: Path) -> None:
    """Rebuilding the production tables of a 20,000-run copy takes no more memory than of a 1,000-run one:
    the dropped tables' pages are not kept in a rollback journal held in memory."""
    small, big = _demo(tmp_path, 1000), _demo(tmp_path, 20000)
    grown = [_grown_bytes(_RESET_CHILD, db, tmp_path / f"staging-{db.stem}.db") for db in (small, big)]
    assert big.stat().st_size > 20_000_000
    assert grown[1] - grown[0] < 5_000_000, grown


def _measured_command(*args: str | Path) -> tuple[int, int]:
    """``python -m bakemigrate ARGS`` run as a child of a child: its exit code and its peak memory (bytes)."""
    code = ("import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[1:], capture_output=True)\n"
            "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)")
    done = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "bakemigrate", *map(str, args)],
                          check=True, capture_output=True, text=True)
    returncode, peak = done.stdout.split()
    return int(returncode), int(peak)


def test_validate_reads_a_huge_export_run_by_run(tmp_path: Path) -> None:
    """`validate` of a 100 MB export (40,000 runs) stays far below the document's size in memory: the
    runs are read and checked one at a time, as `transform` and `import` read them (read whole, the
    same file took 550 MB)."""
    small = tmp_path / "export.json"
    subprocess.run([sys.executable, "-m", "bakemigrate", "export", str(_demo(tmp_path, 200)), str(small), "--quiet"],
                   check=True, capture_output=True)
    raw = small.read_bytes()
    opened, closed = raw.index(b"[") + 1, raw.rindex(b"]")
    runs = raw[opened:closed].strip()
    big = tmp_path / "big.json"
    big.write_bytes(raw[:opened] + b"\n    " + b",\n    ".join([runs] * 200) + b"\n  ]\n}\n")
    assert big.stat().st_size > 100_000_000
    code, peak = _measured_command("validate", big)
    assert code == 0
    assert peak < 160_000_000, f"peak memory {peak:,} bytes for a {big.stat().st_size:,}-byte document"


_SIZES = (5_000, 30_000)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, Path]]:
    """A database and its work folder per size, migrated with inferred losses up to the import."""
    folder = tmp_path_factory.mktemp("memory")
    code = ("import sys\nfrom bakemigrate.pipeline import Migration\n"
            "m = Migration(sys.argv[1], sys.argv[2], infer_losses=True, progress=False)\nm.backup()\nm.import_()\n")
    made = {}
    for runs in _SIZES:
        db, workdir = _demo(folder, runs), folder / f"work-{runs}"
        subprocess.run([sys.executable, "-c", code, str(db), str(workdir)], check=True, capture_output=True)
        made[runs] = (db, workdir)
    return made


def _child_facts(code: str, db: Path, workdir: Path) -> dict:
    """What the child ``code`` prints (JSON) for the database ``db`` and its work folder."""
    done = subprocess.run([sys.executable, "-c", code, str(db), str(workdir)], check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# Each child measures the peak of Python's own allocations (tracemalloc) over one step: the blocks
# of a file read, SQLite's bounded caches and the libraries loaded are the same at both sizes.
_BEFORE_RUNS_CHILD = """
import json, sys, tracemalloc
from pathlib import Path
from bakemigrate.verify import BeforeRuns
backup = next((Path(sys.argv[2]) / "backup").glob("*.db"))
tracemalloc.start()
runs = BeforeRuns(Path(sys.argv[2]) / "export_v1.0.json")  # read as any document: its uuids are compared
assert sum(1 for _ in runs) > 0
runs.refuse_unless_runs_of(backup)
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1]}))
"""

_VERIFY_CHILD = """
import json, sys, tracemalloc
import pandas
from bakemigrate.pipeline import Migration
migration = Migration(sys.argv[1], sys.argv[2], infer_losses=True, progress=False)
migration.import_()  # its checks are not measured
tracemalloc.start()
result = migration.verify()
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(json.dumps({"peak": peak, "passed": result.passed, "shown": len(result.shortfalls),
                  "runs": result.shortfall_runs, "items": result.shortfall_items,
                  "shown_at": result.shortfalls["produced_at"].tolist(), "summary": result.shortfall_summary()}))
"""

_TRANSFORM_AGAIN_CHILD = """
import json, sys, tracemalloc
from bakemigrate.pipeline import Migration
migration = Migration(sys.argv[1], sys.argv[2], infer_losses=True, progress=False)
tracemalloc.start()
report = migration.transform()  # recorded by the export: only described again
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"peak": peak, "count": report.shortfall_count, "shown": [g.uuid for g in report.shortfalls],
                  "losses": report.losses_recorded, "line": report.summary_line()}))
"""


def _facts_by_size(code: str, imported: dict[int, tuple[Path, Path]]) -> list[dict]:
    return [_child_facts(code, *imported[runs]) for runs in _SIZES]


def test_proving_the_export_holds_the_databases_runs_does_not_grow_with_them(
    imported: dict[int, tuple[Path, Path]],
) -> None:
    """The uuids of 30,000 runs are compared with the database's without holding them in Python objects."""
    small, big = _facts_by_size(_BEFORE_RUNS_CHILD, imported)
    assert big["peak"] - small["peak"] < 1_000_000, (small, big)


def test_verifying_inferred_losses_does_not_grow_with_the_history(imported: dict[int, tuple[Path, Path]]) -> None:
    """Statuses checked against the transformed document and the shortfalls listed: a count and the oldest
    1,000 runs, whatever the number of runs."""
    small, big = _facts_by_size(_VERIFY_CHILD, imported)
    assert small["passed"] and big["passed"]
    assert big["peak"] - small["peak"] < 3_000_000, (small["peak"], big["peak"])
    with open_database(imported[30_000][0]) as conn:
        short = conn.execute("SELECT count(*), sum(expected_yield - actual_yield) FROM production_runs "
                             "WHERE actual_yield < expected_yield").fetchone()
        oldest = [at for (at,) in conn.execute(
            "SELECT produced_at FROM production_runs WHERE actual_yield < expected_yield "
            "ORDER BY produced_at LIMIT 1000")]
    assert short[0] > 1000 and (big["runs"], big["items"]) == tuple(short)
    shown_at = [at.replace("T", " ") for at in big["shown_at"]]
    assert big["shown"] == 1000 and shown_at == sorted(shown_at) and shown_at[-1] == oldest[-1].replace("T", " ")
    assert f"{short[0]} runs made fewer items than expected ({short[1]} items)" in big["summary"]


def test_describing_a_recorded_transform_again_reads_the_export_one_run_at_a_time(
    imported: dict[int, tuple[Path, Path]],
) -> None:
    """A transform step run again in a new process (a resumed migrate) rebuilds its report from the
    export without holding the document; the report counts every shortfall and lists the first 1,000."""
    small, big = _facts_by_size(_TRANSFORM_AGAIN_CHILD, imported)
    assert big["peak"] - small["peak"] < 1_000_000, (small["peak"], big["peak"])
    runs = json.loads((imported[30_000][1] / "export_v1.0.json").read_text(encoding="utf-8"))["production_runs"]
    short = [r["uuid"] for r in runs if r["actual_yield"] < r["expected_yield"]]
    assert len(short) > 1000 and big["count"] == big["losses"] == len(short) and big["shown"] == short[:1000]
    assert f"{len(short)} made fewer items than expected" in big["line"]
