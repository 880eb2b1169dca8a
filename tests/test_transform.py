"""The v1.0 -> v1.1 transform on the app's real files (copies of the v0.6 fixture)."""

from __future__ import annotations

import copy
import difflib
import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bakemigrate import transform_v1_0_to_v1_1
from bakemigrate.errors import InvalidDocument
from bakemigrate.formats import LOSS_FIELDS
from bakemigrate.transform import transform, transform_report

V11_RUN_KEYS = [
    "uuid", "recipe_name", "finished_unit_slug", "num_batches", "expected_yield", "actual_yield",
    "produced_at", "notes", "total_ingredient_cost", "per_unit_cost", "production_status",
    "loss_quantity", "consumptions", "losses",
]
COST = re.compile(r"^(0|[1-9][0-9]*)\.[0-9]{4}$")


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def without_added(run: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k in original}


def test_history_fixture_keeps_every_field_and_gains_v11_fields(fixture_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "v1.1.json"
    report = transform(fixture_export, out)
    before, after = read(fixture_export), read(out)

    assert after["version"] == "1.1"
    assert after["exported_at"] == before["exported_at"]
    assert list(after) == list(before)
    assert len(after["production_runs"]) == len(before["production_runs"]) == 60
    for old, new in zip(before["production_runs"], after["production_runs"], strict=True):
        assert list(new) == V11_RUN_KEYS  # the native v0.7 key order
        kept = without_added(new, old)
        assert kept == old and list(kept) == list(old)
        assert (new["production_status"], new["loss_quantity"], new["losses"]) == ("complete", 0, [])
    assert report.runs_total == report.runs_transformed == 60
    assert report.runs_already_v1_1 == 0


def test_history_fixture_reports_shortfalls_and_over_yield(fixture_export: Path, tmp_path: Path) -> None:
    runs = read(fixture_export)["production_runs"]
    short = [r for r in runs if r["actual_yield"] < r["expected_yield"]]
    over = [r for r in runs if r["actual_yield"] > r["expected_yield"]]
    assert (len(short), len(over)) == (16, 2)  # as the fixture README says

    report = transform(fixture_export, tmp_path / "out.json")
    assert [g.uuid for g in report.shortfalls] == [r["uuid"] for r in short]
    assert [g.uuid for g in report.over_yield] == [r["uuid"] for r in over]
    assert report.units_unaccounted == sum(r["expected_yield"] - r["actual_yield"] for r in short)
    assert all(g.recorded_as == "complete" and not g.loss_recorded for g in report.shortfalls)
    assert report.losses_recorded == 0
    frame = report.shortfalls_frame()
    assert len(frame) == 16 and set(frame["units"]) == {r["expected_yield"] - r["actual_yield"] for r in short}
    assert len(report.over_yield_frame()) == 2
    line = report.summary_line()
    assert "\n" not in line and "60 transformed" in line and "16 made fewer" in line
    assert f"{report.units_unaccounted} items unaccounted" in line and "2 made more" in line


def test_output_diff_shows_only_the_added_fields(fixture_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "v1.1.json"
    transform(fixture_export, out)
    before = fixture_export.read_text(encoding="utf-8").splitlines()
    after = out.read_text(encoding="utf-8").splitlines()
    removed, added = [], []
    for line in difflib.ndiff(before, after):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    assert removed.pop(removed.index('  "version": "1.0",')) is not None
    assert added.pop(added.index('  "version": "1.1",')) is not None
    # A value that is no longer the last of its object gains a comma ("]" becomes "],").
    for line in removed:
        added.remove(line + ",")
    new_field = re.compile(r'^ {6}"(production_status": "complete"|loss_quantity": 0|losses": \[\]),?$')
    assert added and all(new_field.match(line) for line in added), added[:3]
    assert len(added) == 3 * 60


def test_second_run_is_byte_identical(fixture_export: Path, tmp_path: Path) -> None:
    first, second, again = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    transform(fixture_export, first)
    report = transform(first, second)
    transform(fixture_export, again)
    assert second.read_bytes() == first.read_bytes() == again.read_bytes()
    assert report.runs_already_v1_1 == 60 and report.runs_transformed == 0 and not report.shortfalls


def test_full_backup_gains_fields_in_runs_only(fixture_full_backup: Path, tmp_path: Path) -> None:
    out = tmp_path / "backup.json"
    report = transform(fixture_full_backup, out)
    before, after = read(fixture_full_backup), read(out)
    assert after["version"] == "3.4"
    assert list(after) == list(before)
    for key in before:
        if key != "production_runs":
            assert after[key] == before[key], key
    for old, new in zip(before["production_runs"], after["production_runs"], strict=True):
        # No per_unit_cost / consumptions anchors in a backup run: the fields go at the end.
        assert list(new) == [*old, *LOSS_FIELDS]
        assert without_added(new, old) == old
        assert (new["production_status"], new["loss_quantity"], new["losses"]) == ("complete", 0, [])
    assert report.runs_transformed == 60
    assert not report.shortfalls  # a backup has no expected_yield
    transform(out, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == out.read_bytes()


def test_infer_losses_records_shortfalls_as_v07_would(fixture_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "inferred.json"
    report = transform(fixture_export, out, infer_losses=True)
    before, after = read(fixture_export)["production_runs"], read(out)["production_runs"]
    statuses = {"complete": 0, "partial_loss": 0, "total_loss": 0}
    for old, new in zip(before, after, strict=True):
        assert without_added(new, old) == old
        statuses[new["production_status"]] += 1
        expected, actual = old["expected_yield"], old["actual_yield"]
        if actual >= expected:
            assert (new["production_status"], new["loss_quantity"], new["losses"]) == ("complete", 0, [])
            continue
        missing = expected - actual
        assert new["production_status"] == ("total_loss" if actual == 0 else "partial_loss")
        assert new["loss_quantity"] == missing
        [loss] = new["losses"]
        assert list(loss) == ["uuid", "loss_category", "loss_quantity", "per_unit_cost", "total_loss_cost", "notes"]
        assert uuid.UUID(loss["uuid"]).version == 4
        assert loss["loss_category"] == "other" and loss["loss_quantity"] == missing
        assert "inferred during migration" in loss["notes"].lower()
        # bake-tracker 0.7: exact total / actual (0 when nothing was made), exact product, and the
        # NUMERIC(10,4) column reads the float back with 4 decimals
        per_unit = Decimal(old["total_ingredient_cost"]) / Decimal(actual) if actual else Decimal("0.0000")
        assert loss["per_unit_cost"] == f"{float(per_unit):.4f}"
        assert loss["total_loss_cost"] == f"{float(per_unit * missing):.4f}"
        if not actual:
            assert (loss["per_unit_cost"], loss["total_loss_cost"]) == ("0.0000", "0.0000")
        assert COST.match(loss["per_unit_cost"]) and COST.match(loss["total_loss_cost"])
    assert statuses == {"complete": 44, "partial_loss": 12, "total_loss": 4}
    assert report.losses_recorded == 16 and len(report.over_yield) == 2
    assert report.total_losses == 4
    assert "4 runs made nothing: total losses, valued at 0.0000" in report.summary_line()
    assert "ingredient cost stays on the runs" in report.summary_line()
    assert all(g.recorded_as in ("partial_loss", "total_loss") for g in report.shortfalls)
    uuids = [r["losses"][0]["uuid"] for r in after if r["losses"]]
    assert len(set(uuids)) == 16
    # The inferred losses are kept as they are on a second run.
    again = tmp_path / "again.json"
    second = transform(out, again, infer_losses=True)
    assert again.read_bytes() == out.read_bytes() and second.runs_already_v1_1 == 60


def test_function_never_mutates_its_input(fixture_export: Path) -> None:
    doc = read(fixture_export)
    pristine = copy.deepcopy(doc)
    out = transform_v1_0_to_v1_1(doc, infer_losses=True)
    assert json.dumps(doc) == json.dumps(pristine)
    out["production_runs"][0]["consumptions"].append({"changed": True})
    assert json.dumps(doc) == json.dumps(pristine)  # the result is an independent copy


def test_present_values_are_kept_and_new_keys_follow_their_anchors(fixture_export: Path) -> None:
    doc = read(fixture_export)
    runs = doc["production_runs"]
    runs[0]["production_status"] = "partial_loss"  # partly v1.1 already: kept, the rest filled
    runs[1] = {"id": 7, **dict(reversed(list(runs[1].items())))}  # any key order is kept
    runs[3].update(production_status="total_loss", loss_quantity=3, losses=[])
    out = transform_v1_0_to_v1_1(doc)["production_runs"]

    assert out[0]["production_status"] == "partial_loss" and out[0]["loss_quantity"] == 0
    keys = list(out[0])
    assert keys[keys.index("per_unit_cost") + 1] == "loss_quantity"
    assert keys[keys.index("consumptions") + 1] == "losses"
    assert keys[-1] == "production_status"  # where it already was

    keys = list(out[1])
    assert [k for k in keys if k not in LOSS_FIELDS] == list(runs[1])
    assert keys[keys.index("per_unit_cost") + 1 : keys.index("per_unit_cost") + 3] == list(LOSS_FIELDS[:2])
    assert keys[keys.index("consumptions") + 1] == "losses"
    assert out[3] == runs[3] and list(out[3]) == list(runs[3])


def test_extension_keys_and_missing_version(fixture_export: Path) -> None:
    doc = read(fixture_export)
    del doc["version"]
    doc["exporter"] = {"name": "bakemigrate"}
    run = doc["production_runs"][0]
    run.update(id=1, created_at="2024-01-01 00:00:00.000000", updated_at="2024-01-01 00:00:00.000000",
               recipe_uuid="r", finished_unit_uuid="f", event_uuid=None, event_name="Bake Sale — “x”")
    run["consumptions"][0].update(id=4, created_at="c", updated_at="u")
    out = transform_v1_0_to_v1_1(doc)
    assert list(out)[0] == "version" and out["version"] == "1.1"
    assert list(out)[1:] == list(doc) and out["exporter"] == doc["exporter"]
    new = out["production_runs"][0]
    assert without_added(new, run) == run and list(without_added(new, run)) == list(run)
    assert new["consumptions"][0] == run["consumptions"][0]


def test_refused_documents() -> None:
    for doc, reason in [
        ([], "JSON list"),
        ({"version": "2.0", "production_runs": []}, '"2.0"'),
        ({"version": "1.0"}, "no production_runs"),
        ({"application": "bake-tracker", "version": "3.4", "recipes": []}, "no production_runs"),
        ({"version": "1.0", "production_runs": {}}, "production_runs: expected array"),
    ]:
        with pytest.raises(InvalidDocument, match=re.escape(reason)):
            transform_v1_0_to_v1_1(doc)


def test_report_without_writing(fixture_export: Path) -> None:
    doc = read(fixture_export)
    report = transform_report(doc, infer_losses=True)
    assert report.losses_recorded == 16 and doc == read(fixture_export)


def test_inferred_loss_cost_too_large_is_refused_clearly(fixture_export: Path) -> None:
    doc = read(fixture_export)
    run = doc["production_runs"][0]
    run.update(expected_yield=2**62, actual_yield=1, per_unit_cost="99999999999.0000")
    with pytest.raises(InvalidDocument, match=r"production_runs\[0\]: the inferred loss cost .* too large"):
        transform_v1_0_to_v1_1(doc, infer_losses=True)
    assert transform_v1_0_to_v1_1(doc)["production_runs"][0]["loss_quantity"] == 0  # policy default is fine


def test_our_export_round_trips_and_diffs_only_the_added_fields(fixture_db: Path, tmp_path: Path) -> None:
    from bakemigrate.exporter import export

    exported, out = tmp_path / "export_v1.0.json", tmp_path / "export_v1.1.json"
    export(fixture_db, exported, progress=False)
    report = transform(exported, out)
    assert report.runs_transformed == 60 and len(report.shortfalls) == 16
    before = exported.read_text(encoding="utf-8").splitlines()
    after = out.read_text(encoding="utf-8").splitlines()
    changes = [line for line in difflib.ndiff(before, after) if line[:2] in ("- ", "+ ")]
    assert sorted(changes) == sorted(
        ['-   "version": "1.0",', '+   "version": "1.1",']
        + ['+       "production_status": "complete",', '+       "loss_quantity": 0,', '+       "losses": [],'] * 60
    )
    for old, new in zip(read(exported)["production_runs"], read(out)["production_runs"], strict=True):
        assert without_added(new, old) == old and list(without_added(new, old)) == list(old)
        assert "recipe_uuid" in new and all("id" in c for c in new["consumptions"])
