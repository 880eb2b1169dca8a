"""The start-up benchmark runs, and the quick commands import no heavy library (speed is not asserted)."""

from __future__ import annotations

import ast
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
        "from bakemigrate.formats import validate\n"
        f"validate({str(fixture_export)!r})\n"
        "assert 'jsonschema' not in sys.modules, 'a valid document imported jsonschema'\n"
        "import json, tempfile\n"
        f"doc = json.load(open({str(fixture_export)!r}))\n"
        "doc['production_runs'][3]['expected_yield'] = '48'\n"
        "bad = tempfile.NamedTemporaryFile('w', suffix='.json', delete=False)\n"
        "json.dump(doc, bad); bad.close()\n"
        "try:\n"
        "    validate(bad.name)\n"
        "except Exception as exc:\n"
        "    print(exc)\n"
        "assert 'jsonschema' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "production_runs[3].expected_yield: expected integer, got \"48\"" in done.stdout


# Names under which modules use the heavy libraries, and the library each stands for.
HEAVY_NAMES = {"pd": "pandas", "jsonschema": "jsonschema", "nbclient": "nbclient", "matplotlib": "matplotlib"}


def _imports_name(node: ast.AST, name: str) -> bool:
    return any(
        isinstance(n, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name.split(".")[0]) == name for a in n.names)
        for n in node.body  # type: ignore[attr-defined]
    )


def test_heavy_libraries_are_imported_inside_the_functions_that_use_them() -> None:
    """A module-level import only for type checking is not there at run time: each use needs its import."""
    unimported = []
    for path in sorted((REPO / "bakemigrate").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                heavy = [a.name for a in node.names if a.name.split(".")[0] in HEAVY_NAMES.values()]
                if heavy or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0]
                             in {*HEAVY_NAMES.values(), "sqlalchemy"}):
                    unimported.append(f"{path.name}:{node.lineno}: imported when the module is")

        def visit(node: ast.AST, imported: frozenset[str], where: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    here = imported | {n for n in HEAVY_NAMES if _imports_name(child, n)}
                    used = {n.id for b in child.body for n in ast.walk(b) if isinstance(n, ast.Name)}
                    for name in sorted((used & set(HEAVY_NAMES)) - here):
                        if not any(_imports_name(f, name) for f in ast.walk(child)
                                   if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f is not child):
                            unimported.append(f"{where}{child.name} (line {child.lineno}) uses {name}")
                    visit(child, frozenset(here), f"{where}{child.name}.")
                else:
                    visit(child, imported, where)

        visit(tree, frozenset(), f"{path.name}: ")
    assert unimported == []


_HEAVY_AT_EXIT = """
import atexit, json, runpy, sys
atexit.register(lambda: print(json.dumps(sorted({m.split(".")[0] for m in sys.modules}
                                               & {"pandas", "sqlalchemy", "matplotlib", "numpy"})), file=sys.stderr))
sys.argv = ["bakemigrate", *sys.argv[1:]]
runpy.run_module("bakemigrate", run_name="__main__")
"""


def test_a_whole_migrate_imports_no_heavy_library(tmp_path: Path) -> None:
    """`bakemigrate migrate --yes --quiet`, every step to the switch, in a real process: neither pandas,
    SQLAlchemy nor matplotlib is imported (they are loaded only by the notebook and the DataFrames of
    a verification a program asks for)."""
    db = tmp_path / "bake_tracker.db"
    subprocess.run([sys.executable, "-m", "bakemigrate", "demo", str(db), "--runs", "300"], check=True,
                   capture_output=True, cwd=REPO)
    done = subprocess.run([sys.executable, "-c", _HEAVY_AT_EXIT, "migrate", str(db), "--workdir", str(tmp_path / "w"),
                           "--yes", "--quiet"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("PASS: ") and (tmp_path / "w" / "report.txt").exists()
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_the_shipped_production_ddl_is_what_sqlalchemy_compiles() -> None:
    """The statements the reset runs and the verification expects (read from `sql/production_v*.sql`,
    without SQLAlchemy) are those SQLAlchemy compiles from the app's tables in `bakemigrate/tables.py`."""
    from bakemigrate import tables

    for version in ("0.6", "0.7"):
        shipped = (REPO / "bakemigrate" / "sql" / f"production_v{version}.sql").read_text(encoding="utf-8")
        assert shipped == tables.shipped_ddl_text(version), (
            f"regenerate sql/production_v{version}.sql with bakemigrate.tables.shipped_ddl_text")
        assert tables.app_ddl(version) == tables.compiled_app_ddl(version)
