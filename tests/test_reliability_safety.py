"""Guarantee 6: nothing read is executed. No eval/exec/pickle in the package, values from documents
reach SQL only as bound parameters (kept verbatim), no value is used as a file path, and the
notebook's parameters are checked."""

from __future__ import annotations

import ast
import copy
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import FIXTURES

from bakemigrate.cli import main
from bakemigrate.reset import reset

PACKAGE = Path(__file__).resolve().parents[1] / "bakemigrate"
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "execfile"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "yaml"}
INJECTIONS = (
    "Robert'); DROP TABLE production_runs; --",
    '" OR 1=1; DELETE FROM recipes; --',
    "'; ATTACH DATABASE '/tmp/pwned.db' AS p; --",
    "{__import__('os').system('touch pwned')}",
)


def package_sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_nothing_read_is_executed_no_eval_exec_or_pickle() -> None:
    found = []
    for path in package_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                found.append(f"{path.name}:{node.lineno} {node.func.id}()")
            if isinstance(node, ast.Call) and any(k.arg == "shell" for k in node.keywords):
                found.append(f"{path.name}:{node.lineno} shell=")
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}:{node.lineno} import {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
    assert len(package_sources()) > 10
    assert found == []


def sql_strings_with_values(path: Path) -> list[str]:
    """f-strings passed to execute()/exec_driver_sql()/text() that interpolate anything but a table or column name."""
    # identifiers and placeholders the code itself chooses: table, column and schema names, "?" marks
    allowed = {"t", "table", "name", "name_col", "status_columns", "sql", "names", "marks", "schema", "first", "second",
               "odd", "odd_shape", "odd_days"}  # the last three: conditions built from a column name (db.py)
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if func in ("execute", "exec_driver_sql", "text", "executemany") and node.args:
                for part in ast.walk(node.args[0]):
                    if isinstance(part, ast.FormattedValue):
                        names = {n.id for n in ast.walk(part.value) if isinstance(n, ast.Name)}
                        if not names <= allowed:
                            bad.append(f"{path.name}:{node.lineno} interpolates {sorted(names)}")
    return bad


def test_sql_gets_document_values_only_as_bound_parameters() -> None:
    bad = [b for path in package_sources() for b in sql_strings_with_values(path)]
    assert bad == []


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    shutil.copyfile(FIXTURES / "bake_tracker.db", tmp_path / "bake_tracker.db")
    reset(tmp_path / "bake_tracker.db", tmp_path / "staging.db")
    return tmp_path / "staging.db"


def injected_document() -> dict[str, Any]:
    doc = json.loads((FIXTURES / "production_history_v1.0.json").read_text(encoding="utf-8"))
    doc["production_runs"] = doc["production_runs"][:len(INJECTIONS)]
    for run, attack in zip(doc["production_runs"], INJECTIONS, strict=True):
        run["notes"] = attack
        for consumption in run["consumptions"]:
            consumption["ingredient_slug"] = attack
            consumption["unit"] = attack
    return doc


def test_sql_injection_strings_are_imported_verbatim(
    staging: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(injected_document()), encoding="utf-8")
    assert main(["import", str(source), str(staging), "--quiet"]) == 0, capsys.readouterr().err
    with sqlite3.connect(staging) as conn:
        notes = {r[0] for r in conn.execute("SELECT notes FROM production_runs")}
        slugs = {r[0] for r in conn.execute("SELECT ingredient_slug FROM production_consumptions")}
        units = {r[0] for r in conn.execute("SELECT unit FROM production_consumptions")}
        recipes = conn.execute("SELECT count(*) FROM recipes").fetchone()[0]
        databases = [r[1] for r in conn.execute("PRAGMA database_list")]
    assert notes == set(INJECTIONS)
    assert slugs == units == set(INJECTIONS)
    assert recipes == 10 and databases == ["main"]
    assert not (tmp_path / "pwned").exists() and not Path("/tmp/pwned.db").exists()


def test_sql_injection_in_a_reference_is_refused_not_run(
    staging: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = injected_document()
    doc["production_runs"][0]["recipe_name"] = INJECTIONS[0]
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(doc), encoding="utf-8")
    capsys.readouterr()
    assert main(["import", str(source), str(staging), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not exist in the database" in err and "nothing was imported" in err
    with sqlite3.connect(staging) as conn:
        assert conn.execute("SELECT count(*) FROM production_runs").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM recipes").fetchone()[0] == 10


def test_document_values_are_never_used_as_file_paths(
    staging: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    monkeypatch.chdir(target)
    doc = json.loads((FIXTURES / "production_history_v1.0.json").read_text(encoding="utf-8"))
    doc["production_runs"] = doc["production_runs"][:3]
    paths = [str(target / "written.db"), "../../written.json", str(target / "written.json")]
    for run, path in zip(doc["production_runs"], paths, strict=True):
        run["notes"] = path
        for consumption in run["consumptions"]:
            consumption["ingredient_slug"] = consumption["unit"] = path
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(doc), encoding="utf-8")
    outcomes = [
        main(["validate", str(source)]),
        main(["transform", str(source), str(tmp_path / "out.json")]),
        main(["import", str(source), str(staging), "--quiet"]),
    ]
    assert outcomes == [0, 0, 0], capsys.readouterr().err
    assert list(target.iterdir()) == []
    assert not (tmp_path.parent / "written.json").exists()


# -- the notebook's parameters ------------------------------------------------------------------------

BAD_PARAMETERS = [
    ({"db_path": 42, "work_dir": "work"}, "DB_PATH"),
    ({"db_path": "   ", "work_dir": "work"}, "DB_PATH"),
    ({"db_path": None, "work_dir": 42}, "WORK_DIR"),
    ({"db_path": None, "work_dir": ""}, "WORK_DIR"),
    ({"db_path": None, "work_dir": "work", "infer_losses": "yes"}, "INFER_LOSSES"),
    ({"db_path": None, "work_dir": "work", "confirm_switch": 1}, "CONFIRM_SWITCH"),
]


@pytest.mark.parametrize(("params", "named"), BAD_PARAMETERS)
def test_notebook_bad_parameters_refused(
    params: dict[str, Any], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bakemigrate.notebook import NotebookStopped, start

    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotebookStopped, match=named):
        start(**params)
    assert list(tmp_path.iterdir()) == []


def test_notebook_parameters_are_literals_not_code() -> None:
    import nbformat

    from bakemigrate.notebook import inject_parameters

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("DB_PATH = None")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    hostile = "x'); import os; os.system('touch pwned'); ('"
    injected = inject_parameters(copy.deepcopy(nb), DB_PATH=hostile, WORK_DIR="w\n__import__('os')")
    source = injected.cells[1].source
    tree = ast.parse(source)
    assert all(isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) for node in tree.body)
    values = {node.targets[0].id: node.value.value for node in tree.body}
    assert values == {"DB_PATH": hostile, "WORK_DIR": "w\n__import__('os')"}
    with pytest.raises(ValueError, match="not notebook parameters"):
        inject_parameters(nb, SOMETHING_ELSE=1)
