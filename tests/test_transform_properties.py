"""Properties of the transform on generated documents (hypothesis)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bakemigrate import transform_v1_0_to_v1_1
from bakemigrate.formats import LOSS_FIELDS, encode_document, load_document
from bakemigrate.transform import transform

RUN_KEYS = {
    "uuid", "recipe_name", "finished_unit_slug", "num_batches", "expected_yield", "actual_yield",
    "produced_at", "notes", "total_ingredient_cost", "per_unit_cost", "consumptions", *LOSS_FIELDS,
    "event_name",
}
MAX_INT = 2**63 - 1

texts = st.text(max_size=30)  # any characters but unpaired surrogates
counts = st.integers(0, MAX_INT) | st.integers(0, 200)
# Yields and run costs small enough for every inferred loss cost to stay storable (11 digits).
yields = st.integers(0, 10**5) | st.integers(0, 200)
run_costs = st.builds(lambda i, f: f"{i}.{f:04d}", st.integers(0, 10**5) | st.integers(0, 99), st.integers(0, 9999))
costs = st.builds(lambda i, f: f"{i}.{f:04d}", st.integers(0, 10**11 - 1) | st.integers(0, 99), st.integers(0, 9999))
quantities = st.builds(
    lambda i, f: f"{i}.{f:03d}", st.integers(0, 10**12 - 1) | st.integers(0, 999), st.integers(0, 999)
).filter(lambda q: q != "0.000")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def extension_keys(known: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(texts.filter(lambda k: k not in known), json_values, max_size=3)


@st.composite
def ordered(draw: st.DrawFn, fields: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """``fields`` plus extension keys, in the exporter's order or shuffled."""
    items = [*fields.items(), *draw(extension_keys(known)).items()]
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    return dict(items)


@st.composite
def consumptions(draw: st.DrawFn) -> dict[str, Any]:
    fields = {
        "uuid": draw(st.uuids()).__str__(),
        "ingredient_slug": draw(texts),
        "quantity_consumed": draw(quantities),
        "unit": draw(texts),
        "total_cost": draw(costs),
    }
    return draw(ordered(fields, set(fields)))


@st.composite
def losses(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "uuid": str(draw(st.uuids())),
        "loss_category": draw(st.sampled_from(["burnt", "broken", "contaminated", "dropped", "other"])),
        "loss_quantity": draw(st.integers(1, 1000)),
        "per_unit_cost": draw(costs),
        "total_loss_cost": draw(costs),
        "notes": draw(st.none() | texts),
    }


@st.composite
def history_runs(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "uuid": str(draw(st.uuids())),
        "recipe_name": draw(texts),
        "finished_unit_slug": draw(texts),
        "num_batches": draw(st.integers(1, MAX_INT) | st.integers(1, 10)),
        "expected_yield": draw(yields),
        "actual_yield": draw(yields),
        "produced_at": draw(st.datetimes(min_value=datetime(1000, 1, 1))).isoformat(),
        "notes": draw(st.none() | texts),
        "total_ingredient_cost": draw(run_costs),
        "per_unit_cost": draw(run_costs),
        "consumptions": draw(st.lists(consumptions(), max_size=3)),
    }
    # Some runs already carry some or all of the v1.1 fields.
    for name, strategy in zip(
        LOSS_FIELDS,
        (st.sampled_from(["complete", "partial_loss", "total_loss"]), counts, st.lists(losses(), max_size=2)),
        strict=True,
    ):
        if draw(st.integers(0, 4)) == 0:
            fields[name] = draw(strategy)
    return draw(ordered(fields, RUN_KEYS))


@st.composite
def history_documents(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    version = draw(st.sampled_from(["1.0", "1.1", None]))
    if version is not None:
        fields["version"] = version
    fields["exported_at"] = draw(texts)
    fields["production_runs"] = draw(st.lists(history_runs(), max_size=4))
    return draw(ordered(fields, {"version", "exported_at", "production_runs", "application"}))


@st.composite
def backup_runs(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_name": draw(st.none() | texts),
        "recipe_name": draw(st.none() | texts),
        "num_batches": draw(st.integers(1, 50)),
        "actual_yield": draw(counts),
        "produced_at": draw(st.none() | st.datetimes(min_value=datetime(1000, 1, 1)).map(
            lambda d: d.isoformat() + "Z")),
    }
    if draw(st.booleans()):
        fields["notes"] = draw(texts.filter(bool))
    return draw(ordered(fields, RUN_KEYS))


@st.composite
def full_backups(draw: st.DrawFn) -> dict[str, Any]:
    sections = draw(st.dictionaries(
        texts.filter(lambda k: k not in {"version", "exported_at", "application", "production_runs"}),
        st.lists(st.dictionaries(texts, json_values, max_size=4), max_size=3),
        max_size=4,
    ))
    return {
        "version": draw(st.sampled_from(["3.4", "3.5", "3.0"])),
        "exported_at": draw(texts),
        "application": "bake-tracker",
        **sections,
        "production_runs": draw(st.lists(backup_runs(), max_size=4)),
        **draw(st.dictionaries(st.sampled_from(["assembly_runs", "zz"]), st.lists(json_values, max_size=2))),
    }


documents = history_documents() | full_backups()


def exact(doc: Any) -> str:
    """A text that differs whenever a value, a type or a key order differs."""
    return json.dumps(doc, ensure_ascii=False)


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_input_is_never_mutated(doc: dict[str, Any], infer: bool) -> None:
    pristine = copy.deepcopy(doc)
    transform_v1_0_to_v1_1(doc, infer_losses=infer)
    assert exact(doc) == exact(pristine)


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_idempotent(doc: dict[str, Any], infer: bool) -> None:
    once = transform_v1_0_to_v1_1(doc, infer_losses=infer)
    assert exact(transform_v1_0_to_v1_1(once, infer_losses=infer)) == exact(once)
    assert exact(transform_v1_0_to_v1_1(once)) == exact(once)


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_every_field_is_kept_and_only_loss_fields_are_added(doc: dict[str, Any], infer: bool) -> None:
    out = transform_v1_0_to_v1_1(doc, infer_losses=infer)
    is_backup = doc.get("application") == "bake-tracker"
    assert out.get("version") == (doc["version"] if is_backup else "1.1")
    assert [k for k in out if k != "version" or "version" in doc] == list(doc)
    for key in doc:
        if key not in ("production_runs", "version"):
            assert exact(out[key]) == exact(doc[key])
    assert len(out["production_runs"]) == len(doc["production_runs"])
    for old, new in zip(doc["production_runs"], out["production_runs"], strict=True):
        kept = {k: v for k, v in new.items() if k in old}
        assert exact(kept) == exact(old)
        assert set(new) - set(old) <= set(LOSS_FIELDS)
        assert all(name in new for name in LOSS_FIELDS)
        if any(name in old for name in LOSS_FIELDS) or not infer or is_backup:
            for name, default in zip(LOSS_FIELDS, ("complete", 0, []), strict=True):
                if name not in old:
                    assert new[name] == default
        elif old["actual_yield"] < old["expected_yield"]:
            missing = old["expected_yield"] - old["actual_yield"]
            assert new["loss_quantity"] == missing == new["losses"][0]["loss_quantity"]
            assert new["production_status"] == ("partial_loss" if old["actual_yield"] else "total_loss")


@settings(max_examples=150, deadline=None)
@given(documents)
def test_writer_matches_json_dump(doc: dict[str, Any]) -> None:
    out = transform_v1_0_to_v1_1(doc)
    for ascii_only in (False, True):
        expected = json.dumps(out, indent=2, ensure_ascii=ascii_only).encode("utf-8")
        assert encode_document(out, ascii_only=ascii_only, trailing_newline=False) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents, st.booleans(), st.booleans())
def test_file_round_trip(tmp_path: Path, doc: dict[str, Any], ascii_only: bool, newline: bool) -> None:
    source, target = tmp_path / "in.json", tmp_path / "out.json"
    text = json.dumps(doc, indent=2, ensure_ascii=ascii_only) + ("\n" if newline else "")
    source.write_text(text, encoding="utf-8")
    report = transform(source, target, force=True)
    out, style = load_document(target)
    assert exact(out) == exact(transform_v1_0_to_v1_1(doc))
    assert style.trailing_newline is newline
    assert report.runs_total == len(doc["production_runs"])
    assert report.runs_transformed + report.runs_already_v1_1 == report.runs_total
