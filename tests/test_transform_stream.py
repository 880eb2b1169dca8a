"""transform reads a production-history export run by run: same bytes, same errors, flat memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_transform_properties import documents

from bakemigrate import transform_v1_0_to_v1_1
from bakemigrate.errors import InvalidDocument
from bakemigrate.formats import MAX_ERRORS_SHOWN
from bakemigrate.transform import transform


def history(fixture_export: Path) -> dict[str, Any]:
    return json.loads(fixture_export.read_text(encoding="utf-8"))


def written(doc: dict[str, Any], path: Path, *, ascii_only: bool = False, newline: bool = True) -> Path:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=ascii_only) + ("\n" if newline else ""), "utf-8")
    return path


def expected_bytes(doc: dict[str, Any], *, ascii_only: bool, newline: bool) -> bytes:
    out = transform_v1_0_to_v1_1(doc)
    return (json.dumps(out, indent=2, ensure_ascii=ascii_only) + ("\n" if newline else "")).encode("utf-8")


def refused(source: Path, target: Path) -> str:
    with pytest.raises(InvalidDocument) as caught:
        transform(source, target)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == [source.name]  # no temporary file either
    return str(caught.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents, st.booleans(), st.booleans())
def test_output_bytes_are_those_of_json_dump(
    tmp_path: Path, doc: dict[str, Any], ascii_only: bool, newline: bool
) -> None:
    source, target = tmp_path / "in.json", tmp_path / "out.json"
    written(doc, source, ascii_only=ascii_only, newline=newline)
    transform(source, target, force=True)
    assert target.read_bytes() == expected_bytes(doc, ascii_only=ascii_only, newline=newline)


@pytest.mark.parametrize("runs", [0, 1, 3])
@pytest.mark.parametrize("ascii_only", [False, True])
def test_streamed_shapes(fixture_export: Path, tmp_path: Path, runs: int, ascii_only: bool) -> None:
    doc = history(fixture_export)
    doc["production_runs"] = doc["production_runs"][:runs]
    doc["notes"] = "crème brûlée, 🎂"  # before the runs: written in the input's style
    doc = {key: doc[key] for key in ["notes", "exported_at", "production_runs"]}  # no version: one is added
    source = written(doc, tmp_path / "in.json", ascii_only=ascii_only, newline=False)
    report = transform(source, tmp_path / "out.json")
    assert (tmp_path / "out.json").read_bytes() == expected_bytes(doc, ascii_only=ascii_only, newline=False)
    assert report.runs_total == runs


def test_keys_after_the_runs_decide_as_a_whole_document(fixture_export: Path, tmp_path: Path) -> None:
    doc = history(fixture_export)
    runs = doc.pop("production_runs")
    moved = {"production_runs": runs, **doc, "extra": [1.5e-7, 10**30]}  # floats orjson writes otherwise
    source = written(moved, tmp_path / "in.json")
    transform(source, tmp_path / "out.json")
    assert (tmp_path / "out.json").read_bytes() == expected_bytes(moved, ascii_only=False, newline=True)

    backup_after = {"production_runs": [], "application": "bake-tracker", "version": "3.4"}
    source = written(backup_after, tmp_path / "backup.json")
    report = transform(source, tmp_path / "backup_out.json")
    assert report.kind.value == "full backup"
    assert json.loads((tmp_path / "backup_out.json").read_text("utf-8"))["version"] == "3.4"


def test_every_problem_counted_the_first_shown(fixture_export: Path, tmp_path: Path) -> None:
    doc = history(fixture_export)
    for run in doc["production_runs"]:
        run["expected_yield"] = "48"
    doc["exported_at"] = 7
    folder = tmp_path / "in"
    folder.mkdir()
    line = refused(written(doc, folder / "bad.json"), folder / "out.json")
    assert line.startswith(f"{folder / 'bad.json'}: not a valid production-history export v1.0: exported_at: ")
    assert "production_runs[0].expected_yield: expected integer" in line
    assert f"(61 problems in total, the first {MAX_ERRORS_SHOWN} shown)" in line


def test_first_unwritable_text_is_named_by_its_run(fixture_export: Path, tmp_path: Path) -> None:
    doc = history(fixture_export)
    doc["production_runs"][3]["notes"] = "a \udc80 b"
    doc["production_runs"][5]["notes"] = "c \udc81 d"
    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / "bad.json"
    source.write_text(json.dumps(doc, indent=2), "utf-8")  # escaped, so the file itself is valid UTF-8
    line = refused(source, folder / "out.json")
    assert "production_runs[3].notes: a text holds an unpaired surrogate" in line


def test_a_json_error_after_a_bad_top_level_is_the_one_reported(fixture_export: Path, tmp_path: Path) -> None:
    doc = history(fixture_export)
    doc["version"] = "2.0"
    text = json.dumps(doc, indent=2)
    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / "cut.json"
    source.write_text(text[: len(text) // 2], "utf-8")
    assert "the file looks truncated" in refused(source, folder / "out.json")
    source.write_text(text, "utf-8")
    assert 'version "2.0" is not supported' in refused(source, folder / "out.json")


@pytest.mark.slow  # about a minute: tracemalloc traces every allocation of 28 MB of runs
def test_memory_stays_below_the_size_of_the_file(
    fixture_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bakemigrate.jsonstream.BLOCK", 1 << 16)  # reading buffers far below the file
    doc = history(fixture_export)
    doc["production_runs"] = doc["production_runs"] * 300  # 18,000 runs, about 28 MB
    source = written(doc, tmp_path / "big.json")
    tracemalloc.start()
    try:
        transform(source, tmp_path / "out.json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < source.stat().st_size / 2  # read whole, the text alone is the size of the file
    assert (tmp_path / "out.json").read_bytes() == expected_bytes(doc, ascii_only=False, newline=True)


def test_an_integer_too_long_to_read_is_refused_in_one_line(fixture_export: Path, tmp_path: Path) -> None:
    text = fixture_export.read_text("utf-8")
    cut = text.rindex("]")
    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / "long.json"
    source.write_text(text[:cut].rstrip() + ", " + "9" * 5000 + "\n  ]\n}\n", "utf-8")
    assert "not valid JSON: Exceeds the limit (4300 digits)" in refused(source, folder / "out.json")
