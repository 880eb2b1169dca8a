"""Guarantee 3: a hostile document given to ``transform``, ``validate`` or ``import`` either works
correctly or ends with exit 2 and one clear line: never a traceback, a partial output file or a
partial import."""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import one_line_error

from bakemigrate.cli import main
from bakemigrate.jsonio import load_json
from bakemigrate.reset import reset

RUN_KEYS = ("uuid", "recipe_name", "finished_unit_slug", "num_batches", "expected_yield", "actual_yield",
            "produced_at", "notes", "total_ingredient_cost", "per_unit_cost", "consumptions")
CONSUMPTION_KEYS = ("uuid", "ingredient_slug", "quantity_consumed", "unit", "total_cost")
PRODUCTION_TABLES = ("production_runs", "production_consumptions", "production_losses")

SETTINGS = settings(
    max_examples=1000, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def base_document() -> dict[str, Any]:
    """The app's own v1.0 export of the fixture database, cut to a few runs."""
    doc = json.loads((FIXTURES / "production_history_v1.0.json").read_text(encoding="utf-8"))
    doc["production_runs"] = doc["production_runs"][:4]
    return doc


@pytest.fixture(scope="module")
def staging_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("staging")
    shutil.copyfile(FIXTURES / "bake_tracker.db", folder / "bake_tracker.db")
    reset(folder / "bake_tracker.db", folder / "staging.db")
    return folder / "staging.db"


# -- hostile values ------------------------------------------------------------------------------------

def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"x": [value]}
    return value


hostile_values = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([2**63, -(2**63) - 1, 10**400, -1, 0, 1.5, -0.0, 1e308]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-5", "0.00001", "9" * 400, "12,5", " 1 ", ""]),
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=20),  # control characters
    st.sampled_from(["x" * 100_000, "\ud800", "\u202e\u0000", "2025-13-45T99:99:99", "nonexistent-recipe"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(min_value=50, max_value=300).map(nested),
)


@st.composite
def hostile_documents(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """The base document with a few values replaced, keys removed or added."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(["document", "run", "consumption"]))
        if target == "document":
            holder, keys = doc, ["version", "exported_at", "production_runs"]
        else:
            run = draw(st.sampled_from(doc["production_runs"])) if isinstance(doc.get("production_runs"), list) \
                and doc["production_runs"] and all(isinstance(r, dict) for r in doc["production_runs"]) else None
            if run is None:
                continue
            holder, keys = run, list(RUN_KEYS)
            if target == "consumption" and isinstance(run.get("consumptions"), list) and run["consumptions"] \
                    and isinstance(run["consumptions"][0], dict):
                holder, keys = run["consumptions"][0], list(CONSUMPTION_KEYS)
        key = draw(st.sampled_from(keys + ["unexpected_key"]))
        action = draw(st.sampled_from(["replace", "replace", "delete"]))
        if action == "delete":
            holder.pop(key, None)
        else:
            holder[key] = draw(hostile_values)
    return doc


def to_text(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, allow_nan=True)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(text)
    return path


def run_main(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def outcome_is_clean(code: int, out: str, err: str) -> None:
    assert "Traceback" not in out + err
    assert code in (0, 2), (code, err)
    if code == 2:
        one_line_error(err)


def production_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in PRODUCTION_TABLES}


# -- validate and transform --------------------------------------------------------------------------

def test_hostile_documents_validate_and_transform(
    base_document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, output = tmp_path / "hostile.json", tmp_path / "out.json"

    @SETTINGS
    @given(hostile_documents(base_document))
    def check(doc: dict[str, Any]) -> None:
        write(source, to_text(doc))
        code, out, err = run_main(capsys, "validate", source)
        outcome_is_clean(code, out, err)
        valid = code == 0
        output.unlink(missing_ok=True)
        code, out, err = run_main(capsys, "transform", source, output)
        outcome_is_clean(code, out, err)
        if code == 0:
            assert valid, "transform accepted a document that validate refused"
            result = load_json(output)
            assert result["version"] == "1.1"
            assert len(result["production_runs"]) == len(doc["production_runs"])
            assert run_main(capsys, "validate", output)[0] == 0
        else:
            assert not output.exists(), "a refused transform left an output file"
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    check()


RAW_CASES = {
    "bom": lambda text: "\ufeff" + text,
    "duplicate key": lambda text: text.replace('"version": "1.0"', '"version": "1.0", "version": "1.1"', 1),
    "nan literal": lambda text: text.replace('"num_batches": 2', '"num_batches": NaN', 1),
    "infinity literal": lambda text: text.replace('"expected_yield": 10', '"expected_yield": Infinity', 1),
    "deep nesting": lambda text: text[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "truncated": lambda text: text[: len(text) // 2],
    "not utf-8": lambda text: text.encode("utf-8")[:50] + b"\xff\xfe" + text.encode("utf-8")[50:],
    "empty": lambda text: "",
    "a list": lambda text: "[" + text + "]",
    "escaped control characters": lambda text: text.replace(
        '"Used convection"', json.dumps("Used\u0000conv\u001b[31m"), 1),
    "raw control character": lambda text: text.replace("Used convection", "Used\u0000convection", 1),
}


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_hostile_document_text(
    case: str, base_document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, output = tmp_path / "hostile.json", tmp_path / "out.json"
    write(source, RAW_CASES[case](json.dumps(base_document, indent=2, ensure_ascii=False)))
    for argv in (("validate", source), ("transform", source, output)):
        code, out, err = run_main(capsys, *argv)
        outcome_is_clean(code, out, err)
        if case in ("bom", "escaped control characters"):
            assert code == 0, err  # a BOM is tolerated; escaped control characters are data
        else:
            assert code == 2
            assert not output.exists()
    if case == "escaped control characters":
        notes = [r["notes"] for r in load_json(output)["production_runs"]]
        assert "Used\u0000conv\u001b[31m" in notes


# -- import -------------------------------------------------------------------------------------------

def test_hostile_documents_import_all_or_nothing(
    base_document: dict[str, Any], staging_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, staging = tmp_path / "hostile.json", tmp_path / "staging.db"
    empty = production_counts(staging_template)

    @settings(SETTINGS, max_examples=400)
    @given(hostile_documents(base_document))
    def check(doc: dict[str, Any]) -> None:
        shutil.copyfile(staging_template, staging)
        write(source, to_text(doc))
        code, out, err = run_main(capsys, "import", source, staging, "--quiet")
        outcome_is_clean(code, out, err)
        counts = production_counts(staging)
        if code == 2:
            assert counts == empty, "a refused import changed the staging database"
        else:
            runs = doc["production_runs"]
            assert counts["production_runs"] == len({r["uuid"] for r in runs})
            assert counts["production_consumptions"] == sum(len(r["consumptions"]) for r in runs)

    check()


def test_import_with_missing_recipes_imports_nothing(
    base_document: dict[str, Any], staging_template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = copy.deepcopy(base_document)
    doc["production_runs"][-1]["recipe_name"] = "Grandma's Vanishing Torte"
    doc["production_runs"][0]["finished_unit_slug"] = "no-such-unit"
    source, staging = write(tmp_path / "doc.json", to_text(doc)), tmp_path / "staging.db"
    shutil.copyfile(staging_template, staging)
    code, out, err = run_main(capsys, "import", source, staging, "--quiet")
    assert code == 2
    line = one_line_error(err)
    assert "Grandma's Vanishing Torte" in line and "nothing was imported" in line
    assert production_counts(staging) == production_counts(staging_template)


def test_hostile_document_in_a_real_process(tmp_path: Path, process_cli) -> None:
    source = write(tmp_path / "doc.json", '{"version": "1.0", "production_runs": [{"uuid": NaN}]}')
    for argv in (("validate", source), ("transform", source, tmp_path / "out.json")):
        done = process_cli(*argv)
        assert done.returncode == 2
        assert "NaN is not valid JSON" in one_line_error(done.stderr)
    assert not (tmp_path / "out.json").exists()


# -- a million runs --------------------------------------------------------------------------------------

def write_million_runs(path: Path, run: dict[str, Any], count: int = 10**6) -> None:
    """A v1.0 document of ``count`` copies of ``run`` (unique uuids), streamed to disk."""
    template = json.dumps({**run, "uuid": "@UUID@"}, ensure_ascii=False)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"version": "1.0", "exported_at": "2026-01-01T00:00:00", "production_runs": [')
        for i in range(count):
            fh.write(("," if i else "") + template.replace("@UUID@", f"00000000-0000-4000-8000-{i:012d}"))
        fh.write("]}")


@pytest.mark.slow
def test_a_million_runs_transform_in_a_real_process(
    base_document: dict[str, Any], tmp_path: Path, process_cli
) -> None:
    run = {**base_document["production_runs"][0], "consumptions": []}
    source, output = tmp_path / "million.json", tmp_path / "out.json"
    write_million_runs(source, run)
    done = process_cli("transform", source, output)
    assert "Traceback" not in done.stderr
    if done.returncode == 0:
        with open(output, encoding="utf-8") as fh:
            assert sum(line.count('"production_status": "complete"') for line in fh) == 10**6
    else:
        assert done.returncode == 2
        one_line_error(done.stderr)
        assert not output.exists()


@pytest.mark.slow
def test_a_million_runs_validate(base_document: dict[str, Any], tmp_path: Path, capsys) -> None:
    run = {**base_document["production_runs"][0], "consumptions": []}
    source = tmp_path / "million.json"
    write_million_runs(source, run)
    code, out, err = run_main(capsys, "validate", source)
    outcome_is_clean(code, out, err)
    assert code == 0 and "1000000" in out.replace(",", ""), out
