"""Memory that must not grow with the size of the history, measured in child processes on demo databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
