"""Guarantee 4 (values and work folders that no check foresaw): a database holding a value the app
never stores, or a damaged work-folder journal, is refused with one line naming the place, exit 2,
before anything is written; and any failure left unforeseen is one ``error:`` line, never a traceback."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from reliability_helpers import one_line_error

from bakemigrate.backup import backup
from bakemigrate.cli import main
from bakemigrate.db import sha256_file
from bakemigrate.pipeline import Migration

STORED_VALUES = {
    "text in a NUMERIC cost": ("UPDATE production_runs SET total_ingredient_cost = 'abc' WHERE id = 7",
                               "production_runs row id 7, column total_ingredient_cost: holds text 'abc' "
                               "where bake-tracker stores a number"),
    "text in a consumption's cost": ("UPDATE production_consumptions SET total_cost = 'n/a' WHERE id = 12",
                                     "production_consumptions row id 12, column total_cost: holds text 'n/a'"),
    "a NaN text in a quantity": ("UPDATE production_consumptions SET quantity_consumed = 'NaN' WHERE id = 3",
                                 "production_consumptions row id 3, column quantity_consumed: holds text 'NaN'"),
    "a BLOB in notes": ("UPDATE production_runs SET notes = x'00ff10' WHERE id = 9",
                        "production_runs row id 9, column notes: holds binary data (a BLOB of 3 bytes) "
                        "where bake-tracker stores a text"),
    "a BLOB in a unit": ("UPDATE production_consumptions SET unit = x'01' WHERE id = 5",
                         "production_consumptions row id 5, column unit: holds binary data"),
    "a text in a yield": ("UPDATE production_runs SET actual_yield = 'twelve' WHERE id = 11",
                          "production_runs row id 11, column actual_yield: holds text 'twelve'"),
    "a fraction in a yield": ("UPDATE production_runs SET expected_yield = 2.5 WHERE id = 4",
                              "production_runs row id 4, column expected_yield: holds the number 2.5 "
                              "where bake-tracker stores a whole number"),
}


def spoiled(db: Path, statement: str) -> Path:
    with sqlite3.connect(db) as conn:
        conn.execute(statement)
    conn.close()
    return db


@pytest.mark.parametrize("case", list(STORED_VALUES))
def test_a_value_the_app_never_stores_is_refused_before_anything_is_written(
    case: str, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statement, expected = STORED_VALUES[case]
    db = spoiled(demo_db, statement)
    before = sha256_file(db)
    work = tmp_path / "work"
    for argv in (["migrate", db, "--workdir", work, "--yes", "--quiet"],
                 ["migrate", db, "--workdir", work, "--dry-run"],
                 ["export", db, tmp_path / "export.json", "--quiet"]):
        code = main([str(a) for a in argv])
        assert code == 2
        line = one_line_error(capsys.readouterr().err)
        assert expected in line and "correct that value in the app" in line
    assert sha256_file(db) == before
    assert not work.exists() and not (tmp_path / "export.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bake_tracker.db"]


def test_of_several_such_values_the_first_column_s_first_row_is_named(demo_db: Path) -> None:
    """One pass reads every column of a table: a number's text is allowed where a number is stored; of
    the values refused, the first column (in the table's order) with one names its lowest row id."""
    from bakemigrate.db import refuse_unexportable_values
    from bakemigrate.errors import DatabaseRefused

    for statement in ("UPDATE production_runs SET total_ingredient_cost = '12.5' WHERE id = 2",  # a number's text
                      "UPDATE production_runs SET notes = x'01' WHERE id IN (30, 8)",
                      "UPDATE production_runs SET actual_yield = 'many' WHERE id IN (40, 20)",
                      "UPDATE production_consumptions SET unit = x'02' WHERE id = 1"):
        spoiled(demo_db, statement)
    named = []
    for fix in ("", "UPDATE production_runs SET actual_yield = 3 WHERE id IN (40, 20)",
                "UPDATE production_runs SET notes = NULL WHERE id IN (30, 8)"):
        if fix:
            spoiled(demo_db, fix)
        with pytest.raises(DatabaseRefused) as refused:
            refuse_unexportable_values(demo_db)
        named.append(str(refused.value).split(": holds")[0].split(": ", 1)[1])
    assert named == ["production_runs row id 20, column actual_yield", "production_runs row id 8, column notes",
                     "production_consumptions row id 1, column unit"]
    spoiled(demo_db, "UPDATE production_consumptions SET unit = 'cup' WHERE id = 1")
    refuse_unexportable_values(demo_db)  # the number's text alone is accepted


def test_verify_refuses_an_original_holding_such_a_value(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    migration = Migration(demo_db, work, progress=False)
    migration.backup()
    migration.import_()
    spoiled(demo_db, STORED_VALUES["text in a NUMERIC cost"][0])
    code = main(["verify", str(demo_db), str(work / "staging.db"), "--before", str(work / "export_v1.0.json")])
    assert code == 2
    assert STORED_VALUES["text in a NUMERIC cost"][1] in one_line_error(capsys.readouterr().err)


# -- a damaged journal ----------------------------------------------------------------------------------

def journals(db: Path) -> dict[str, str]:
    start = {"db": str(db.resolve()), "infer_losses": False, "at": "2026-01-01T00:00:00+00:00"}
    return {
        "a text where the start record goes": ('{"steps": {"start": "x"}}',
                                               "the record of step 'start' is not an object"),
        "not JSON": ('{"steps": {"start": ', "not valid JSON at line 1"),
        "empty": ("", "the file is empty"),
        "a list": ("[]", 'not an object with a "steps" object'),
        "steps as a list": ('{"steps": []}', 'not an object with a "steps" object'),
        "no steps": ("{}", 'not an object with a "steps" object'),
        "the database as a number": (json.dumps({"steps": {"start": {**start, "db": 5}}}), "start.db is not a text"),
        "no database": (json.dumps({"steps": {"start": {"infer_losses": False}}}), "start.db is missing"),
        "a checksum as a number": (json.dumps({"steps": {"start": start, "backup": {"sha256": 12}}}),
                                   "backup.sha256 is not a text"),
        "a verdict without its checksum": (json.dumps({"steps": {"start": start, "verify": {"verdict": "PASS"}}}),
                                           "verify.staging_sha256 is missing"),
        "a count as true": (json.dumps({"steps": {"start": start, "export": {"sha256": "ab", "consumptions": True}}}),
                            "export.consumptions is not a whole number"),
        "a NUL byte": ('{"steps": {}}\x00', "a raw control character"),
        "switch marks that are not pairs": (
            json.dumps({"steps": {"start": start, "switch": {"sha256": "ab", "marks": {"recipes": 5}}}}),
            "switch.marks is not an object of [row count, largest rowid] pairs"),
    }


@pytest.mark.parametrize("case", list(journals(Path("x"))))
@pytest.mark.parametrize("command", ["migrate", "migrate --dry-run", "switch", "rollback"])
def test_a_damaged_journal_is_refused_naming_what_to_do(
    case: str, command: str, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = journals(demo_db)[case]
    work = tmp_path / "work"
    backup(demo_db, work, progress=False)  # a work folder with its backup, as an interrupted run leaves it
    (work / "journal.json").write_text(text, encoding="utf-8")
    before = sha256_file(demo_db)
    name, *options = command.split()
    extra = ["--yes", "--quiet"] if command == "migrate" else ["--yes"] if name != "migrate" else options
    code = main([name, str(demo_db), "--workdir", str(work), *extra])
    assert code == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"work folder journal {work / 'journal.json'} is damaged: " in line
    assert expected in line and line.endswith("remove the work folder or use another --workdir")
    assert sha256_file(demo_db) == before
    assert sorted(p.name for p in work.iterdir()) == ["backup", "journal.json"]
    assert (work / "journal.json").read_text(encoding="utf-8") == text


# -- the last resort ------------------------------------------------------------------------------------

def test_an_unforeseen_failure_is_one_line_not_a_traceback(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise AttributeError("'str' object has no attribute 'get'\n  (a second line)")

    monkeypatch.setattr("bakemigrate.pipeline.Migration.preflight", broken)
    code = main(["migrate", str(demo_db), "--workdir", str(tmp_path / "work"), "--dry-run"])
    assert code == 2
    line = one_line_error(capsys.readouterr().err)
    assert line == ("error: unexpected failure (AttributeError: 'str' object has no attribute 'get' (a second line)); "
                    "this is a defect in bakemigrate, please report it")


def test_a_verified_database_copied_twice_is_never_compared_with_itself(demo_db: Path, tmp_path: Path, cli) -> None:
    """The case that used to end in "no such column: production_status", in a real process."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(demo_db, copy)
    (tmp_path / "export.json").write_text('{"version": "1.0", "production_runs": []}', encoding="utf-8")
    done = cli("verify", demo_db, copy, "--before", tmp_path / "export.json")
    assert done.returncode == 2
    assert "is bake-tracker v0.6, not a migrated v0.7 copy" in one_line_error(done.stderr)
