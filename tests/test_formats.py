"""Document kinds, JSON Schema validation and the JSON writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bakemigrate.errors import InvalidDocument
from bakemigrate.formats import (
    MAX_ERRORS_SHOWN,
    DocumentKind,
    detect_kind,
    encode_document,
    load_document,
    load_schema,
    run_problems,
    validate,
    validate_document,
)
from bakemigrate.jsonio import load_json


def history(fixture_export: Path) -> dict[str, Any]:
    return json.loads(fixture_export.read_text(encoding="utf-8"))


def problems(doc: Any) -> str:
    with pytest.raises(InvalidDocument) as caught:
        validate_document(doc)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("doc", "kind"),
    [
        ({"version": "1.0", "production_runs": []}, DocumentKind.HISTORY_V1_0),
        ({"production_runs": []}, DocumentKind.HISTORY_V1_0),
        ({"version": "1.1", "production_runs": []}, DocumentKind.HISTORY_V1_1),
        ({"version": "3.4", "application": "bake-tracker", "production_runs": []}, DocumentKind.FULL_BACKUP),
        ({"version": "3.10", "application": "bake-tracker", "production_runs": []}, DocumentKind.FULL_BACKUP),
    ],
)
def test_detect_kind(doc: dict[str, Any], kind: DocumentKind) -> None:
    assert detect_kind(doc) is kind


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ([{"version": "1.0"}], "a JSON list, not an object"),
        ("text", "not an object"),
        ({"version": "2.0", "production_runs": []}, 'version "2.0" is not supported'),
        ({"version": 1.0, "production_runs": []}, "version must be a text"),
        ({"version": "1.0", "runs": []}, "no production_runs"),
        ({"application": "bake-tracker", "version": "3.4", "recipes": []}, "no production_runs section"),
        ({"application": "bake-tracker", "version": "2.0", "production_runs": []}, 'version "2.0"'),
        ({"application": "other-app", "version": "1.0", "production_runs": []}, '"other-app"'),
    ],
)
def test_unknown_kinds_are_refused_with_a_reason(doc: Any, reason: str) -> None:
    with pytest.raises(InvalidDocument, match=reason):
        detect_kind(doc)


def test_real_fixtures_are_valid(fixture_export: Path, fixture_full_backup: Path) -> None:
    assert validate_document(history(fixture_export)) is DocumentKind.HISTORY_V1_0
    backup = json.loads(fixture_full_backup.read_text(encoding="utf-8"))
    assert validate_document(backup) is DocumentKind.FULL_BACKUP
    report = validate(fixture_export)
    assert report.runs == 60 and report.runs_with_loss_fields == 0
    assert report.summary_line() == (
        f"{fixture_export}: valid production-history export v1.0, 60 production runs "
        "(0 with production_status, loss_quantity and losses)"
    )


def test_error_names_the_place_and_the_problem(fixture_export: Path) -> None:
    doc = history(fixture_export)
    doc["production_runs"][12]["expected_yield"] = "48"
    assert problems(doc) == (
        'not a valid production-history export v1.0: production_runs[12].expected_yield: '
        'expected integer, got "48"'
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("actual_yield", True, "actual_yield: expected integer, got true"),
        ("actual_yield", 10.0, "actual_yield: expected integer, got 10.0"),
        ("actual_yield", -1, "actual_yield: expected at least 0, got -1"),
        ("num_batches", 0, "num_batches: expected at least 1, got 0"),
        ("expected_yield", 2**63, f"expected_yield: expected at most {2**63 - 1}, got {2**63}"),
        ("per_unit_cost", "0.29", 'per_unit_cost: expected an amount with exactly 4 decimals, like "0.2976"'),
        ("per_unit_cost", "-1.0000", "per_unit_cost: expected an amount"),
        ("per_unit_cost", "0.2976\n", "per_unit_cost: expected an amount"),
        ("per_unit_cost", 0.2976, "per_unit_cost: expected string, got 0.2976"),
        ("total_ingredient_cost", "1e3", "total_ingredient_cost: expected an amount"),
        ("produced_at", "2024-13-01T00:00:00", "produced_at: expected a date and time"),
        ("notes", 5, "notes: expected string or null, got 5"),
        ("uuid", "x" * 37, "uuid: expected at most 36 character(s), got 37"),
        ("production_status", "done", 'production_status: expected one of "complete", "partial_loss"'),
        ("loss_quantity", -2, "loss_quantity: expected at least 0, got -2"),
        ("losses", [{"uuid": "u", "loss_category": "eaten", "loss_quantity": 0, "per_unit_cost": "1.0000",
                     "total_loss_cost": "1.0000"}], "losses[0].loss_category: expected one of"),
    ],
)
def test_field_rules(fixture_export: Path, field: str, value: Any, expected: str) -> None:
    doc = history(fixture_export)
    doc["production_runs"][3][field] = value
    assert f"production_runs[3].{expected}" in problems(doc)


def test_consumption_rules_and_missing_keys(fixture_export: Path) -> None:
    doc = history(fixture_export)
    consumption = doc["production_runs"][0]["consumptions"][1]
    consumption["quantity_consumed"] = "0.000"
    del consumption["unit"]
    del doc["production_runs"][5]["notes"]
    message = problems(doc)
    assert "production_runs[0].consumptions[1].quantity_consumed: expected a quantity above zero" in message
    assert "production_runs[0].consumptions[1].unit: missing" in message
    assert "production_runs[5].notes: missing" in message
    assert "(3 problems)" in message


def test_all_errors_at_once_capped_with_total(fixture_export: Path) -> None:
    doc = history(fixture_export)
    for run in doc["production_runs"][:25]:
        run["num_batches"] = "2"
    message = problems(doc)
    assert message.count("expected integer") == MAX_ERRORS_SHOWN
    assert message.endswith(f"(25 problems in total, the first {MAX_ERRORS_SHOWN} shown)")
    assert message.index("production_runs[0]") < message.index("production_runs[9]")


def test_extra_keys_are_allowed(fixture_export: Path) -> None:
    doc = history(fixture_export)
    doc["anything"] = [1, {"x": None}]
    doc["production_runs"][0].update(id=3, created_at="2024-01-01 00:00:00.000000", event_name=None)
    doc["production_runs"][0]["consumptions"][0]["id"] = 9
    assert validate_document(doc) is DocumentKind.HISTORY_V1_0


def test_v11_loss_objects(fixture_export: Path) -> None:
    doc = history(fixture_export)
    doc["version"] = "1.1"
    loss = {"uuid": "u1", "loss_category": "burnt", "loss_quantity": 2, "per_unit_cost": "0.5000",
            "total_loss_cost": "1.0000", "notes": None}
    doc["production_runs"][0].update(production_status="partial_loss", loss_quantity=2, losses=[loss])
    assert validate_document(doc) is DocumentKind.HISTORY_V1_1
    loss["loss_quantity"] = 0
    assert "losses[0].loss_quantity: expected at least 1, got 0" in problems(doc)


def test_full_backup_runs_are_checked(fixture_full_backup: Path) -> None:
    doc = json.loads(fixture_full_backup.read_text(encoding="utf-8"))
    doc["production_runs"][2]["actual_yield"] = None
    doc["production_runs"][4]["produced_at"] = "2024-04-27T01:27:43.596854"  # the backup adds "Z"
    doc["recipes"] = "left alone"  # other sections are not this tool's business
    message = problems(doc)
    assert message.startswith("not a valid full backup: production_runs[2].actual_yield: expected integer, got null")
    assert "production_runs[4].produced_at" in message and "(2 problems)" in message


def test_shipped_schemas_are_valid_draft4() -> None:
    for kind in DocumentKind:
        schema = load_schema(kind)
        jsonschema.Draft4Validator.check_schema(schema)
        assert schema["$schema"].startswith("http://json-schema.org/draft-04/")


# --------------------------------------------------------------------------------------------
# Writing


def test_writer_reproduces_the_app_files_byte_for_byte(fixture_export: Path, fixture_full_backup: Path) -> None:
    # The history file was written with json.dump(indent=2) (non-ASCII escaped), the backup with
    # json.dump(indent=2, ensure_ascii=False); neither ends with a newline.
    for path in (fixture_export, fixture_full_backup):
        raw = path.read_bytes()
        doc, style = load_document(path)
        assert style.trailing_newline is False
        assert encode_document(doc, ascii_only=style.ascii_only, trailing_newline=False) == raw
    assert load_document(fixture_export)[1].ascii_only is True
    assert load_document(fixture_full_backup)[1].ascii_only is False


def test_writer_matches_json_dump(fixture_full_backup: Path) -> None:
    doc = load_json(fixture_full_backup)
    expected = json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")
    assert encode_document(doc) == expected + b"\n"
    assert encode_document(doc, ascii_only=True) == json.dumps(doc, indent=2).encode("ascii") + b"\n"


@pytest.mark.parametrize(
    "value",
    [2**64, -(2**63) - 1, 10**30, 1e16, 1e-7, 2.5e-5, 1.7976931348623157e308, [1, 2e22], {"a": [0.00001]}],
)
def test_writer_falls_back_where_orjson_differs(value: Any) -> None:
    doc = {"version": "1.0", "x": value, "y": "ünï"}
    assert encode_document(doc, trailing_newline=False) == json.dumps(
        doc, indent=2, ensure_ascii=False
    ).encode("utf-8")


def test_writer_refuses_unpaired_surrogates() -> None:
    doc = {"production_runs": [{"notes": "ok"}, {"notes": "bad \ud800 text"}]}
    with pytest.raises(InvalidDocument, match=r"production_runs\[1\]\.notes: a text holds an unpaired surrogate"):
        encode_document(doc)


def test_reader_refuses_repeated_keys(tmp_path: Path) -> None:
    path = tmp_path / "dup.json"
    path.write_text('{"version": "1.0", "production_runs": [{"uuid": "a", "uuid": "b"}]}', encoding="utf-8")
    with pytest.raises(InvalidDocument, match="duplicate key 'uuid'"):
        load_document(path)


def test_reader_accepts_what_the_strict_reader_accepts(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    # A BOM, a key containing a colon, an escaped colon, integers beyond 64 bits.
    path.write_bytes(
        '\ufeff{"a:b": "x\\u003ay", "n": [123456789012345678901234567890, -9223372036854775809, '
        "18446744073709551616, 18446744073709551615, 1.5]}".encode()
    )
    doc, style = load_document(path)
    assert json.dumps(doc) == json.dumps(load_json(path)) and style.ascii_only is False
    assert all(type(n) is int for n in doc["n"][:4])


def test_run_problems_checks_one_run_at_a_time(fixture_export: Path) -> None:
    runs = history(fixture_export)["production_runs"]
    assert run_problems(DocumentKind.HISTORY_V1_0, runs[0], 0) == []
    runs[0]["actual_yield"] = "10"
    del runs[0]["uuid"]
    assert run_problems(DocumentKind.HISTORY_V1_0, runs[0], 41) == [
        "production_runs[41].uuid: missing",
        'production_runs[41].actual_yield: expected integer, got "10"',
    ]
    assert run_problems(DocumentKind.FULL_BACKUP, [], 2) == ["production_runs[2]: expected object, got a list"]
