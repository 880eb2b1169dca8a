"""What the command line prints, read in-process through `main(argv)` in an 80-column terminal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bakemigrate.cli import main


@pytest.fixture
def here(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding `bake/bake_tracker.db` (a demo database), the current folder, at 80 columns."""
    (tmp_path / "bake").mkdir()
    shutil.move(demo_db, tmp_path / "bake" / "bake_tracker.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    return tmp_path


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def assert_fits(text: str) -> None:
    long = [line for line in lines_of(text) if len(line) > 80]
    assert long == [], long


def test_migrate_fits_80_columns_and_ends_with_pass(here: Path, capsys) -> None:
    assert main(["migrate", "bake/bake_tracker.db", "--yes", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    shown = lines_of(out)
    assert shown[-1] == "PASS: bake/bake_tracker.db migrated to bake-tracker v0.7 and verified"
    steps = [line.split(":")[0] for line in shown if not line.startswith((" ", "verification", "tables", "work"))]
    assert steps[:8] == ["preflight", "backup", "export", "transform", "reset", "import", "verify", "switch"]
    assert "work folder: bake/bakemigrate-work" in shown
    assert "backup: backup/bake_tracker.db, integrity ok, 200 runs, sha256 " in out
    assert any(line.startswith("  ✓ every field: ") and line.endswith(" 0 differ") for line in shown)
    assert "  ✓ 27 other tables: identical row for row" in shown
    assert any(line.startswith("  ✓ production runs ") and line.endswith("200 after") for line in shown)
    assert "assembly_runs" not in out  # the per-table table is behind --verbose


def test_a_rerun_says_which_steps_were_done_earlier(here: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", None)  # no terminal: the first run stops before the switch
    assert main(["migrate", "bake/bake_tracker.db", "--quiet"]) == 2
    capsys.readouterr()
    assert main(["migrate", "bake/bake_tracker.db", "--quiet", "--yes"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    shown = lines_of(out)
    for step in ("backup", "export", "transform", "import"):
        assert any(line.startswith(f"{step}: done earlier (") and line.endswith("), kept") for line in shown), step
    assert any(line.startswith("switch: bake/bake_tracker.db is now the v0.7 database") for line in lines_of(out))


def test_dry_run_and_rollback_fit(here: Path, capsys) -> None:
    assert main(["migrate", "bake/bake_tracker.db", "--dry-run"]) == 0
    assert_fits(capsys.readouterr().out)
    assert main(["migrate", "bake/bake_tracker.db", "--yes", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["rollback", "bake/bake_tracker.db", "--yes"]) == 0
    out = capsys.readouterr().out
    assert_fits(out)
    assert out.startswith("nothing was entered since the switch: the rollback loses nothing")
    assert "rolled back: bake/bake_tracker.db is the pre-migration database again" in out
    assert "kept the file as it was in the work folder: before-rollback-" in out


def test_dry_run_plan_is_what_the_real_run_then_does(here: Path, capsys) -> None:
    assert main(["migrate", "bake/bake_tracker.db", "--yes", "--quiet"]) == 0
    assert main(["rollback", "bake/bake_tracker.db", "--yes"]) == 0
    capsys.readouterr()
    assert main(["migrate", "bake/bake_tracker.db", "--dry-run"]) == 0
    plan = lines_of(capsys.readouterr().out.split("plan:\n", 1)[1])
    planned = {line.split(":")[0].strip(): line.endswith(", kept") for line in plan if line.startswith("  ")}
    # the switch put the staging database in place: the steps before it stay, the rest runs again
    assert planned == {"backup": True, "export": True, "transform": True, "reset": False, "import": False,
                       "verify": False, "switch": False}
    assert "  reset: to run (staging.db is not there any more)" in plan
    assert main(["migrate", "bake/bake_tracker.db", "--yes"]) == 0
    ran = {line.split(":")[0]: line.split(": ", 1)[1].startswith("done earlier (")
           for line in lines_of(capsys.readouterr().out) if line.split(":")[0] in planned}
    assert ran == planned


def test_verbose_shows_every_table(here: Path, capsys) -> None:
    assert main(["migrate", "bake/bake_tracker.db", "--yes", "--quiet", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "Rows per table" in out and "assembly_runs" in out and "Fields compared" in out
    report = (here / "bake" / "bakemigrate-work" / "report.txt").read_text(encoding="utf-8")
    assert "assembly_runs" in report and "✓ every field" in report


def test_report_txt_holds_every_row_of_every_table_aligned(here: Path) -> None:
    assert main(["migrate", "bake/bake_tracker.db", "--yes", "--quiet"]) == 0
    work = here / "bake" / "bakemigrate-work"
    report = (work / "report.txt").read_text(encoding="utf-8")
    kept = json.loads((work / "report.json").read_text(encoding="utf-8"))["verification"]
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in report.split("\n\n") if "│" in block}
    assert {"Rows per table", "Checks", "Fields compared", "Statuses"} <= set(blocks)
    rows = blocks["Rows per table"]
    assert rows[0].split(" │ ")[0].strip() == "table" and set(rows[1]) <= {"─", "┼"}
    # every table once, with its counts; the columns line up (one width for every line of a table)
    shown = {line.split(" │ ")[0].strip(): [cell.strip() for cell in line.split(" │ ")[1:]] for line in rows[2:]}
    assert shown == {t["table"]: [f"{t['before']:,}", f"{t['after']:,}", "✓"] for t in kept["tables"]}
    assert len({line.index("│") for line in rows if "│" in line}) == 1
    assert len(blocks["Checks"]) == 2 + len(kept["checks"])


def test_json_is_one_object_with_the_checks_and_is_kept_as_report_json(here: Path, capsys) -> None:
    assert main(["migrate", "bake/bake_tracker.db", "--yes", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert (report["command"], report["outcome"], report["exit_code"]) == ("migrate", "migrated", 0)
    assert report["message"].startswith("PASS:")
    checks = {c["check"]: c for c in report["verification"]["checks"]}
    assert len(checks) == 8 and all(c["passed"] for c in checks.values())
    assert "0 differ" in checks["every field"]["detail"]
    tables = {t["table"]: t for t in report["verification"]["tables"]}
    assert tables["production_runs"] == {"table": "production_runs", "before": 200, "after": 200, "equal": True}
    assert [s["step"] for s in report["steps"]][:4] == ["preflight", "backup", "export", "transform"]
    # paths are absolute, whatever folder the command ran from
    assert (report["database"], report["workdir"]) == (str(here / "bake" / "bake_tracker.db"),
                                                       str(here / "bake" / "bakemigrate-work"))
    kept = json.loads((here / "bake" / "bakemigrate-work" / "report.json").read_text(encoding="utf-8"))
    assert kept == report
    # a re-run does not replace the migration's report
    assert main(["migrate", "bake/bake_tracker.db", "--yes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "already-migrated"
    assert json.loads((here / "bake" / "bakemigrate-work" / "report.json").read_text(encoding="utf-8")) == report


def test_json_of_a_refusal_is_an_object_too_and_the_error_line_stays(here: Path, capsys) -> None:
    assert main(["migrate", "nowhere/bake_tracker.db", "--json"]) == 2
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert (report["outcome"], report["exit_code"]) == ("refused", 2)
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1


def test_verify_and_validate_json(here: Path, capsys) -> None:
    work = here / "bake" / "bakemigrate-work"
    assert main(["migrate", "bake/bake_tracker.db", "--quiet", "--dry-run"]) == 0
    assert main(["backup", "bake/bake_tracker.db"]) == 0
    backup = work / "backup" / "bake_tracker.db"
    assert main(["export", str(backup), "e10.json", "--quiet"]) == 0
    assert main(["transform", "e10.json", "e11.json"]) == 0
    assert main(["reset", str(backup), "staging.db"]) == 0
    assert main(["import", "e11.json", "staging.db", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["validate", "e11.json", "--json"]) == 0
    valid = json.loads(capsys.readouterr().out)
    assert (valid["outcome"], valid["runs"]) == ("valid", 200)
    assert valid["file"] == str(here / "e11.json")
    assert main(["verify", str(backup), "staging.db", "--before", "e10.json", "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert verified["outcome"] == "passed" and verified["verification"]["verdict"] == "PASS"


def test_help_groups_the_commands_with_an_example_each(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    order = [text.index(word) for word in ("the whole migration", "the guided notebook", "step by step", "tools:")]
    assert order == sorted(order)
    assert text.index("  migrate ") < text.index("  notebook ") < text.index("  backup ") < text.index("  transform ")
    for command in ("migrate", "rollback", "locate", "notebook", "backup", "export", "reset", "import", "verify",
                    "switch", "transform", "validate", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        page = capsys.readouterr().out
        assert f"example:\n  bakemigrate {command}" in page, command
        assert "exit codes:" in page
        assert_fits(page)
