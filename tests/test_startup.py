"""The start-up benchmark runs, and the quick commands import no heavy library (speed is not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fixture_paths import REPO


def test_startup_benchmark_reports_every_command_and_what_it_imported(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "startup.py"), "--repeat", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "startup.json").read_text(encoding="utf-8"))
    timings = {t["command"]: t for t in result["timings"]}
    assert list(timings) == ["--version", "migrate --help", "migrate --dry-run"]
    for timing in timings.values():
        assert len(timing["samples"]) == 1 and timing["median"] > 0 and timing["returncode"] == 0
    # The quick commands need none of the heavy libraries; the dry run reads the database only.
    assert timings["--version"]["heavy_imports"] == []
    assert timings["migrate --help"]["heavy_imports"] == []
    assert set(timings["migrate --dry-run"]["heavy_imports"]) <= {"sqlalchemy"}
    table = (tmp_path / "startup.md").read_text(encoding="utf-8")
    assert table.count("| `bakemigrate ") == 3 and table == done.stdout


def test_a_valid_document_is_checked_without_jsonschema(fixture_export: Path) -> None:
    """jsonschema (slow to import beside JupyterLab) is only for documents the fast check refuses."""
    code = (
        "import sys\n"
        "from bakemigrate.formats import validate_file\n"
        f"validate_file({str(fixture_export)!r})\n"
        "assert 'jsonschema' not in sys.modules, 'a valid document imported jsonschema'\n"
        "import json, tempfile\n"
        f"doc = json.load(open({str(fixture_export)!r}))\n"
        "doc['production_runs'][3]['expected_yield'] = '48'\n"
        "bad = tempfile.NamedTemporaryFile('w', suffix='.json', delete=False)\n"
        "json.dump(doc, bad); bad.close()\n"
        "try:\n"
        "    validate_file(bad.name)\n"
        "except Exception as exc:\n"
        "    print(exc)\n"
        "assert 'jsonschema' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "production_runs[3].expected_yield: expected integer, got \"48\"" in done.stdout
