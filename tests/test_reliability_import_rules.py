"""Guarantee 3 (documents that are well-formed but wrong): ``import`` refuses a v1.1 document whose
statuses and losses break bake-tracker 0.7's rules, and a run given twice with different content,
naming the run, with exit 2 and nothing imported; a run given twice identically is imported once, said."""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import one_line_error

from bakemigrate.cli import main
from bakemigrate.db import content_digest
from bakemigrate.exporter import export
from bakemigrate.reset import reset
from bakemigrate.transform import transform


@pytest.fixture(scope="module")
def inferred(tmp_path_factory: pytest.TempPathFactory, demo_template: Path) -> dict[str, Any]:
    """The demo database's v1.1 document with inferred losses, and an empty staging copy."""
    folder = tmp_path_factory.mktemp("rules")
    db = folder / "bake_tracker.db"
    shutil.copyfile(demo_template, db)
    export(db, folder / "export_v1.0.json", progress=False)
    transform(folder / "export_v1.0.json", folder / "export_v1.1.json", infer_losses=True)
    reset(db, folder / "staging.db")
    doc = json.loads((folder / "export_v1.1.json").read_text(encoding="utf-8"))
    return {"doc": doc, "staging": folder / "staging.db"}


def first(doc: dict[str, Any], status: str) -> int:
    return next(i for i, run in enumerate(doc["production_runs"]) if run["production_status"] == status)


def _more_than_expected(run: dict[str, Any]) -> None:
    run["loss_quantity"] = run["losses"][0]["loss_quantity"] = run["expected_yield"] + 1


def _complete_with_a_loss(run: dict[str, Any]) -> None:
    run["losses"] = [{**copy.deepcopy(run.get("losses") or [{}])[0], "uuid": "00000000-0000-4000-8000-00000000aaaa",
                      "loss_category": "burnt", "loss_quantity": 2, "per_unit_cost": run["per_unit_cost"],
                      "total_loss_cost": "0.0000", "notes": None}]


CASES: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "loss rows that do not add up": (
        "partial_loss", lambda run: run["losses"][0].update(loss_quantity=run["losses"][0]["loss_quantity"] - 1),
        "loss rows add up to"),
    "a second loss row": (
        "partial_loss",
        lambda run: run["losses"].append({**run["losses"][0], "uuid": "00000000-0000-4000-8000-0000000000bb"}),
        "its 2 loss rows add up to"),
    "no loss row for a loss": ("partial_loss", lambda run: run.update(losses=[]), "its 0 loss rows add up to 0 items"),
    "more lost than expected": ("partial_loss", _more_than_expected, "is more than expected_yield"),
    "a loss that is not the shortfall": (
        "partial_loss",
        lambda run: (run.update(loss_quantity=run["loss_quantity"] - 1),
                     run["losses"][0].update(loss_quantity=run["losses"][0]["loss_quantity"] - 1)),
        "is not expected_yield - actual_yield"),
    "a total loss with a loss of 0": (
        "complete", lambda run: run.update(production_status="total_loss"),
        "production_status 'total_loss' with loss_quantity 0"),
    "complete with a loss": (
        "partial_loss", lambda run: run.update(production_status="complete"),
        "production_status 'complete' with loss_quantity"),
    "complete with a loss row": (
        "complete", _complete_with_a_loss, "its 1 loss rows add up to 2 items, not to its loss_quantity 0"),
    "a partial loss that made nothing": (
        "total_loss", lambda run: run.update(production_status="partial_loss"), "(0.7 records 'total_loss')"),
    "a total loss cost that is not quantity × per-unit cost": (
        "partial_loss", lambda run: run["losses"][0].update(total_loss_cost="999.0000"),
        "losses[0].total_loss_cost 999.0000 is not loss_quantity × the per-unit cost as 0.7 computes it"),
    "a total loss valued at its ingredients": (
        "total_loss", lambda run: run["losses"][0].update(total_loss_cost=run["total_ingredient_cost"]),
        "losses[0].total_loss_cost"),
    "a per-unit cost that is not the run's": (
        "partial_loss", lambda run: run["losses"][0].update(per_unit_cost="0.0001"),
        "losses[0].per_unit_cost 0.0001 is not total_ingredient_cost / actual_yield"),
}


def production_digest(staging: Path) -> tuple[str, dict[str, int]]:
    with sqlite3.connect(staging) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("production_runs", "production_consumptions", "production_losses")}
    conn.close()
    return content_digest(staging), counts


def run_import(doc: dict[str, Any], inferred: dict[str, Any], tmp_path: Path, capsys) -> tuple[int, str, str, Path]:
    source, staging = tmp_path / "doc.json", tmp_path / "staging.db"
    source.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    shutil.copyfile(inferred["staging"], staging)
    capsys.readouterr()
    code = main(["import", str(source), str(staging), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err, staging


@pytest.mark.parametrize("case", list(CASES))
def test_a_run_breaking_the_v07_rules_is_refused_and_nothing_imported(
    case: str, inferred: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, change, expected = CASES[case]
    doc = copy.deepcopy(inferred["doc"])
    index = first(doc, status)
    run = doc["production_runs"][index]
    change(run)
    code, out, err, staging = run_import(doc, inferred, tmp_path, capsys)
    assert code == 2, out
    line = one_line_error(err)
    assert f"production_runs[{index}] ({run['uuid']}): breaks bake-tracker 0.7's rules: " in line
    assert expected in line and "nothing was imported" in line
    assert production_digest(staging) == production_digest(inferred["staging"])


def test_the_rules_document_itself_imports(inferred: dict[str, Any], tmp_path: Path, capsys) -> None:
    code, out, err, staging = run_import(inferred["doc"], inferred, tmp_path, capsys)
    assert code == 0, err
    losses = sum(len(run["losses"]) for run in inferred["doc"]["production_runs"])
    assert losses > 0 and f"{losses} losses" in out


def test_a_run_twice_with_different_content_is_a_conflict(inferred: dict[str, Any], tmp_path: Path, capsys) -> None:
    doc = copy.deepcopy(inferred["doc"])
    runs = doc["production_runs"]
    runs.append({**copy.deepcopy(runs[3]), "notes": "edited later"})
    code, out, err, staging = run_import(doc, inferred, tmp_path, capsys)
    assert code == 2
    line = one_line_error(err)
    assert (f"production_runs[{len(runs) - 1}] and production_runs[3] have the same uuid {runs[3]['uuid']} "
            "but different content") in line
    assert "nothing was imported" in line
    assert production_digest(staging) == production_digest(inferred["staging"])


def test_a_run_twice_identically_is_imported_once_and_said(inferred: dict[str, Any], tmp_path: Path, capsys) -> None:
    doc = copy.deepcopy(inferred["doc"])
    runs = doc["production_runs"]
    runs.insert(10, json.loads(json.dumps(runs[3], sort_keys=True)))  # the same content, keys in another order
    code, out, err, staging = run_import(doc, inferred, tmp_path, capsys)
    assert code == 0, err
    assert f"imported {len(runs) - 1} production runs" in out and "skipped 1 duplicates" in out
    assert (f"warning: 1 runs repeat an earlier run of the document exactly (first: production_runs[10] is "
            f"production_runs[3], uuid {runs[3]['uuid']}): each is imported once") in err
    assert production_digest(staging)[1]["production_runs"] == len(runs) - 1
