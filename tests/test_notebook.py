"""The guided notebook, run for real in a Python kernel: outcomes, tables, charts, records, exit codes."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from bakemigrate.backup import read_manifest
from bakemigrate.db import inspect_database, sha256_file
from bakemigrate.notebook import (
    NOTEBOOK_NAME,
    OUTCOME_KEY,
    PARAMETERS,
    NotebookStopped,
    inject_parameters,
    notebook_path,
    run_notebook,
    start,
)
from bakemigrate.pipeline import Migration

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "notebooks" / NOTEBOOK_NAME
SHIPPED = REPO / "bakemigrate" / "notebooks" / NOTEBOOK_NAME


# ---- reading a record -------------------------------------------------------------------------------


def cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    matches = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(matches) == 1, f"no single cell {cell_id!r}"
    return matches[0]


def texts(c: nbformat.NotebookNode) -> list[str]:
    """Every markdown or plain text the cell displayed."""
    out = []
    for o in c.outputs:
        data = o.get("data", {})
        out.append(data.get("text/markdown") or data.get("text/plain") or o.get("text", ""))
    return out


def errors(nb: nbformat.NotebookNode) -> list[tuple[str, dict]]:
    """Error outputs and anything written on stderr, by cell id."""
    found = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"):
                found.append((c.id, o))
    return found


def table_rows(c: nbformat.NotebookNode, index: int = 0) -> list[list[str]]:
    """The rows of the index-th DataFrame a cell displayed, parsed from its HTML."""
    html_outputs = [o.data["text/html"] for o in c.outputs if "text/html" in o.get("data", {})]
    return table_rows_of(html_outputs[index])


def table_rows_of(page: str) -> list[list[str]]:
    """The rows of every table in an HTML page, as text."""
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, flags=re.S)
    return [[re.sub(r"<.*?>", "", v).strip() for v in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows]


def html_of(c: nbformat.NotebookNode) -> str:
    """Every HTML the cell displayed, joined."""
    return "\n".join(o.data["text/html"] for o in c.outputs if "text/html" in o.get("data", {}))


def loaded_urls(page: str) -> list[str]:
    """URLs an HTML page loads by itself (script/img src, link href)."""
    return re.findall(r"<(?:script|img|iframe)[^>]*\bsrc=[\"']([^\"']+)", page) + re.findall(
        r"<link[^>]*\bhref=[\"']([^\"']+)", page
    )


# ---- the committed notebook -------------------------------------------------------------------------


def test_committed_notebook_has_no_outputs_and_the_four_parameters() -> None:
    nb = nbformat.read(COMMITTED, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assigned = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(tagged[0].source).body
        if isinstance(node, ast.Assign)
    }
    assert assigned == {"DB_PATH": None, "WORK_DIR": None, "INFER_LOSSES": False,
                        "CONFIRM_SWITCH": False}
    assert tuple(assigned) == PARAMETERS
    assert nb.cells[0].cell_type == "markdown" and "untouched" in nb.cells[0].source


def test_committed_notebook_is_what_its_generator_writes() -> None:
    result = subprocess.run([sys.executable, str(REPO / "notebooks" / "build_notebook.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_ships_the_same_notebook_by_a_link() -> None:
    assert SHIPPED.is_symlink()
    assert os.readlink(SHIPPED) == f"../../notebooks/{NOTEBOOK_NAME}"
    assert SHIPPED.resolve() == COMMITTED.resolve()
    assert notebook_path().resolve() == COMMITTED.resolve()


def test_injected_parameters_follow_the_parameters_cell() -> None:
    nb = nbformat.read(COMMITTED, as_version=4)
    once = inject_parameters(nb, DB_PATH="/x/db", WORK_DIR="/w", INFER_LOSSES=False, CONFIRM_SWITCH=True)
    twice = inject_parameters(once, DB_PATH=None, WORK_DIR="/v", INFER_LOSSES=True, CONFIRM_SWITCH=True)
    for result, db in ((once, "'/x/db'"), (twice, "None")):
        ids = [c.id for c in result.cells]
        assert ids.index("injected-parameters") == ids.index("parameters") + 1
        assert ids.count("injected-parameters") == 1
        assert f"DB_PATH = {db}" in cell(result, "injected-parameters").source
    assert len(nb.cells) + 1 == len(twice.cells)
    with pytest.raises(ValueError, match="ROLLBACK"):
        inject_parameters(nb, ROLLBACK=True)


@pytest.mark.parametrize(
    ("db_path", "work_dir", "infer", "confirm", "expected"),
    [
        (42, "w", False, False, "DB_PATH must be the location of your database"),
        ("  ", "w", False, False, "DB_PATH is empty"),
        ("db", 42, False, False, "WORK_DIR must be a folder name"),
        ("D:\x08ake-tracker\\data\\bake_tracker.db", None, False, False, r"DB_PATH looks like a Windows path .*\\b"),
        ("C:\\Users\\you\\BakeTracker\new\today.db", None, False, False, r"\\n, \\t"),
        ("db", "C:\\work\run", False, False, r"WORK_DIR looks like a Windows path .*\\r"),
        ("db", "w", "yes", False, "INFER_LOSSES must be True or False"),
        ("db", "w", False, 1, "CONFIRM_SWITCH must be True or False"),
    ],
)
def test_bad_parameters_stop_with_one_sentence(tmp_path, monkeypatch, capsys, db_path, work_dir, infer, confirm,
                                               expected) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotebookStopped, match=expected) as stopped:
        start(db_path, work_dir, infer_losses=infer, confirm_switch=confirm)
    assert stopped.value.exit_code == 2
    assert "\n" not in str(stopped.value)
    assert stopped.value._render_traceback_() == [f"The notebook stopped here: {stopped.value}"]
    assert not (tmp_path / "w").exists()


def test_a_path_in_the_home_folder_may_be_written_with_a_tilde(tmp_path, monkeypatch, demo_template) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copyfile(demo_template, tmp_path / "bake_tracker.db")
    guide = start("~/bake_tracker.db", None, quiet=True)
    assert guide.migration.db == tmp_path / "bake_tracker.db"
    assert guide.migration.workdir == tmp_path / "bakemigrate-work"


def test_work_dir_that_is_a_file_is_refused(tmp_path) -> None:
    (tmp_path / "w").write_text("")
    with pytest.raises(NotebookStopped, match="is a file, not a folder"):
        start(None, tmp_path / "w")


def test_tables_for_reading() -> None:
    from bakemigrate import readable

    summary = pd.DataFrame({"table": ["assembly_runs", "production_runs", "recipes", "compositions", "events"],
                            "before": [0, 1200, 14, 3, 2], "after": [0, 1200, 14, 3, 1],
                            "equal": [True, True, True, True, False]})
    table = readable.rows_per_table(summary)
    page = table._repr_html_()
    known = [r[0] for r in table_rows_of(page)]
    # the known tables in the baker's order, the one that differs never folded, the rest in one line
    assert known[:4] == ["Table", "Production runs", "Recipes", "Events"]
    assert "<details><summary>2 other tables: all equal</summary>" in page
    assert "1,200" in page and "✗" in page and "index" not in page.split("<details>")[0].lower().replace(
        "hide", "")
    assert readable.when("2025-12-09T17:02:07.363404") == "2025-12-09 17:02"
    assert readable.short_id("1479c1fb-8fca-4cfb-a758-32a8fee09a11") == "1479c1fb…"
    assert readable.cost("18.8733") == "18.87"
    checks = readable.checks(pd.DataFrame({"check": ["integrity"], "passed": [False], "detail": ["bad"]}))
    assert table_rows_of(checks._repr_html_()) == [["Check", "Result", "What was found"], ["integrity", "✗", "bad"]]
    assert "overflow-x:auto" in checks._repr_html_()


# ---- the charts -------------------------------------------------------------------------------------


def test_charts() -> None:
    from bakemigrate import plots

    summary = pd.DataFrame({"table": ["a", "b", "production_runs", "recipes", "events", "odd"],
                            "before": [3, 5, 7, 2, 0, 4], "after": [3, 5, 7, 2, 0, 3]})
    fig = plots.rows_per_table(summary)
    # top to bottom: the known tables by their names (the empty one left out), the differing one, the rest
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()][::-1]
    assert labels == ["Production runs", "Recipes", "odd", "2 other tables"]
    assert [p.get_width() for p in fig.axes[0].patches][:4][::-1] == [7, 2, 4, 8]  # the "before" bars
    mix = pd.DataFrame({"production_status": ["complete"], "runs": [7], "units_lost": [0]})
    fig = plots.status_mix(mix)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Complete", "Partial loss", "Total loss"]
    assert [p.get_height() for p in fig.axes[0].patches] == [7, 0, 0]
    first, second = plots.png(fig), plots.png(plots.status_mix(mix))
    assert first.startswith(b"\x89PNG") and first == second


# ---- real runs in a kernel ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One headless run on a fresh demo database, with a broken 'python3' kernelspec installed."""
    root = tmp_path_factory.mktemp("demo-run")
    spec = root / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": ["/nonexistent/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
         "display_name": "broken", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root / "jupyter"))
        mp.setenv("JUPYTER_DATA_DIR", str(root / "jupyter"))
        result = run_notebook(None, root / "work", root / "record" / "record.ipynb")
    return result, root


def test_demo_run_migrates_and_keeps_a_record(demo_run) -> None:
    result, root = demo_run
    assert result.exit_code == 0, result.summary_line()
    assert result.status == "migrated"
    line = result.summary_line()
    assert "\n" not in line and line.startswith("PASS: ") and str(result.output) in line
    assert result.seconds < 60
    nb = nbformat.read(result.output, as_version=4)
    assert errors(nb) == []
    demo = root / "work-demo" / "bake_tracker.db"
    info = inspect_database(demo)
    assert info.schema_version == "0.7" and info.runs == 200
    assert "Verdict: PASS.</strong> Every check passed" in html_of(cell(nb, "step-6-verdict"))
    # the record shows the parameters it ran with in the settings cell, with relative paths
    assert "CONFIRM_SWITCH = True" in cell(nb, "parameters").source
    assert not [c for c in nb.cells if c.id == "injected-parameters"]
    assert "Shift+Enter" not in cell(nb, "intro").source and "record" in cell(nb, "intro").source
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    charts = [o for o in cell(nb, "step-6-charts").outputs if "image/png" in o.get("data", {})]
    assert len(charts) == 2


def test_demo_record_html_loads_nothing_from_outside(demo_run) -> None:
    result, _ = demo_run
    assert result.html == result.output.with_suffix(".html")
    page = result.html.read_text(encoding="utf-8")
    assert "jp-Notebook" in page and "Verdict: PASS" in page and "data:image/png;base64" in page
    assert "injected-parameters" not in page
    assert [u for u in loaded_urls(page) if not u.startswith("data:")] == []
    for host in ("cdnjs", "unpkg", "jsdelivr", "googleapis"):
        assert host not in page


def test_rerun_of_a_migrated_database_says_so_and_stops_cleanly(demo_run) -> None:
    _, root = demo_run
    again = run_notebook(None, root / "work", root / "record" / "again.ipynb")
    assert again.exit_code == 0, again.summary_line()
    assert again.status == "already-migrated"
    assert "already at bake-tracker v0.7" in again.summary_line()
    nb = nbformat.read(again.output, as_version=4)
    assert errors(nb) == []
    assert any("Already migrated" in t for t in texts(cell(nb, "step-0-preflight")))
    for skipped in ("step-1-backup", "step-5-import"):
        assert texts(cell(nb, skipped)) == [texts(cell(nb, skipped))[0]]
        assert texts(cell(nb, skipped))[0].startswith("*Skipped:"), skipped
    # the proof stays: the verification kept in the work folder, with the same tables and verdict
    first = nbformat.read(demo_run[0].output, as_version=4)
    for shown in ("step-6-verify", "step-6-rows", "step-6-fields", "step-6-statuses", "step-6-verdict"):
        assert texts(cell(nb, shown))[0].startswith("*From the migration of 20"), shown
        assert table_rows_of(html_of(cell(nb, shown))) == table_rows_of(html_of(cell(first, shown))), shown
    assert "Verdict: PASS" in html_of(cell(nb, "step-6-verdict"))
    assert texts(cell(nb, "step-7-switch"))[0].startswith("*Switched on 20")


def test_fixture_through_the_cli(fixture_db, tmp_path, cli) -> None:
    before = sha256_file(fixture_db)
    record = tmp_path / "out" / "record.ipynb"
    done = cli("notebook", "--db", fixture_db, "--workdir", tmp_path / "work", "--output", record)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("\n") == 1 and done.stdout.startswith("PASS: ")
    assert done.stderr == ""
    nb = nbformat.read(record, as_version=4)
    assert errors(nb) == []
    rows = {r[0]: r[1:] for r in table_rows(cell(nb, "step-6-rows"))[1:]}
    assert rows["Production runs"] == ["60", "60", "✓"]
    assert rows["Ingredients used by the runs"] == ["271", "271", "✓"]
    assert rows["Losses (new in 0.7)"] == ["0", "0", "✓"]
    fields = table_rows(cell(nb, "step-6-fields"))
    header, body = fields[0], fields[1:]
    by_column = {(r[0], r[1]): dict(zip(header, r, strict=True)) for r in body}
    assert by_column[("production_runs", "actual_yield")]["Values compared"] == "60"
    assert all(r[header.index("Different")] == "0" for r in body)
    assert {r[0] for r in table_rows(cell(nb, "step-6-statuses"))[1:2]} == {"Complete"}
    # the database itself: v0.7, 60 runs, all complete with 0 losses, and changed only by the switch
    info = inspect_database(fixture_db)
    assert info.schema_version == "0.7" and info.runs == 60
    with sqlite3.connect(fixture_db) as conn:
        assert conn.execute("SELECT production_status, sum(loss_quantity), count(*) FROM production_runs "
                            "GROUP BY 1").fetchall() == [("complete", 0, 60)]
    assert read_manifest(fixture_db, tmp_path / "work").original_sha256 == before


def test_corrupt_database_stops_in_the_preflight_cell(fixture_db, tmp_path, cli) -> None:
    with open(fixture_db, "r+b") as fh:
        fh.truncate(fixture_db.stat().st_size // 2)
    before = sha256_file(fixture_db)
    record = tmp_path / "record.ipynb"
    done = cli("notebook", "--db", fixture_db, "--workdir", tmp_path / "work", "--output", record)
    assert done.returncode == 2
    assert done.stdout.count("\n") == 1
    assert done.stdout.startswith("stopped at cell 'step-0-preflight': ")
    assert "corrupt" in done.stdout and "Traceback" not in done.stdout + done.stderr
    nb = nbformat.read(record, as_version=4)
    [(where, error)] = [e for e in errors(nb) if e[1].output_type == "error"]
    assert where == "step-0-preflight"
    assert error.ename == "NotebookStopped" and "corrupt" in error.evalue
    assert error.traceback == [f"The notebook stopped here: {error.evalue}"]
    assert any("Your database has not been changed" in t for t in texts(cell(nb, "step-0-preflight")))
    assert cell(nb, "step-1-backup").outputs == [] and cell(nb, "step-1-backup").execution_count is None
    assert sha256_file(fixture_db) == before
    assert record.with_suffix(".html").exists()


def test_not_a_bake_tracker_database_is_refused(tmp_path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    result = run_notebook(other, tmp_path / "work", tmp_path / "record.ipynb", html=False)
    assert result.exit_code == 2
    assert result.cell == "step-0-preflight"
    assert "not a bake-tracker database" in result.summary_line()
    assert result.html is None and not (tmp_path / "record.html").exists()


def test_a_run_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the kernel's files would go
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    result = run_notebook(other, tmp_path / "work", tmp_path / "record.ipynb", html=False)
    assert result.exit_code == 2 and result.cell == "step-0-preflight"  # the kernel ran the first cell
    assert list(scratch.iterdir()) == []  # no connection file, socket folder or log left behind


def test_missing_database_is_refused(tmp_path) -> None:
    result = run_notebook(tmp_path / "nope.db", tmp_path / "work", tmp_path / "record.ipynb", html=False)
    assert (result.exit_code, result.cell) == (2, "step-0-preflight")
    assert "file not found" in result.message


@pytest.mark.parametrize(
    ("document", "step", "failed"),
    [
        ("export_v1.0.json", "export", "export document"),  # the before-document disagrees with the result
        ("export_v1.1.json", "transform", "every field"),  # a faulty value flows into the database
    ],
)
def test_failed_verification_stops_at_the_verdict_and_switches_nothing(
    fixture_db, tmp_path, document: str, step: str, failed: str
) -> None:
    work = tmp_path / "work"
    migration = Migration(fixture_db, work, progress=False)
    migration.backup()
    migration.export()
    # a faulty document: one run's notes differ from the database (the journal is told it is fine)
    doc = json.loads((work / document).read_text(encoding="utf-8"))
    doc["production_runs"][0]["notes"] = "changed on the way"
    (work / document).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    journal = json.loads((work / "journal.json").read_text(encoding="utf-8"))
    journal["steps"][step]["sha256"] = sha256_file(work / document)
    (work / "journal.json").write_text(json.dumps(journal), encoding="utf-8")
    before = sha256_file(fixture_db)

    result = run_notebook(fixture_db, work, tmp_path / "record.ipynb", html=False)
    assert result.exit_code == 1, result.summary_line()
    assert result.status == "verification-failed"
    assert result.summary_line().startswith(f"stopped at cell 'step-6-verdict': verify: FAIL ({failed}")
    nb = nbformat.read(result.output, as_version=4)
    assert "Verdict: FAIL" in html_of(cell(nb, "step-6-verdict"))
    mismatches = table_rows(cell(nb, "step-6-verdict"), 2)
    assert any("notes" in row and "changed on the way" in row for row in mismatches)
    assert cell(nb, "step-7-switch").execution_count is None
    assert sha256_file(fixture_db) == before
    assert inspect_database(fixture_db).schema_version == "0.6"


def test_cli_refuses_a_record_that_is_not_a_notebook(tmp_path, cli) -> None:
    done = cli("notebook", "--workdir", tmp_path / "work", "--output", tmp_path / "record.txt")
    assert done.returncode == 2
    expected = f"error: {tmp_path / 'record.txt'}: the record must be a notebook file ending in .ipynb"
    assert done.stderr.strip() == expected
    assert not (tmp_path / "work").exists()


def test_infer_losses_records_past_shortfalls(fixture_db, tmp_path) -> None:
    result = run_notebook(fixture_db, tmp_path / "work", tmp_path / "record.ipynb", infer_losses=True, html=False)
    assert result.exit_code == 0, result.summary_line()
    nb = nbformat.read(result.output, as_version=4)
    assert "INFER_LOSSES = True" in cell(nb, "parameters").source
    with sqlite3.connect(fixture_db) as conn:
        mix = dict(conn.execute("SELECT production_status, count(*) FROM production_runs GROUP BY 1").fetchall())
        losses = conn.execute("SELECT count(*) FROM production_losses").fetchone()[0]
    labels = {"complete": "Complete", "partial_loss": "Partial loss", "total_loss": "Total loss"}
    shown = {r[0]: r[1] for r in table_rows(cell(nb, "step-6-statuses"))[1:] if r[0] in labels.values()}
    assert shown == {labels[status]: f"{count:,}" for status, count in mix.items()}
    assert mix.get("partial_loss", 0) + mix.get("total_loss", 0) == losses > 0
    # both the transform and the verification say how many total losses there are, valued at 0
    for name in ("step-3-transform", "step-6-statuses"):
        said = " ".join(o.data.get("text/markdown", "") for o in cell(nb, name).outputs if "data" in o)
        assert f"{mix['total_loss']} runs made nothing: total losses, valued at 0.0000" in said, name
        assert "ingredient cost stays on the runs and is not counted as loss value" in said, name


def test_database_in_use_stops_in_the_preflight_cell(fixture_db, tmp_path) -> None:
    app = sqlite3.connect(fixture_db, isolation_level=None)
    try:
        app.execute("BEGIN IMMEDIATE")  # bake-tracker in the middle of writing
        app.execute("UPDATE recipes SET name = name")
        result = run_notebook(fixture_db, tmp_path / "work", tmp_path / "record.ipynb", html=False)
    finally:
        app.execute("ROLLBACK")
        app.close()
    assert (result.exit_code, result.cell) == (2, "step-0-preflight")
    assert "close bake-tracker first" in result.message
    assert inspect_database(fixture_db).schema_version == "0.6"


def test_notebook_as_a_person_runs_it_stops_before_the_switch(tmp_path, monkeypatch, demo_template) -> None:
    """The committed notebook, run top to bottom with its own settings: a demo, verified, not switched."""
    from nbclient import NotebookClient

    from bakemigrate.notebook import kernel_manager

    home = tmp_path / "home"  # the baker's own database, where the app keeps it
    own = home / "Documents" / "BakeTracker" / "bake_tracker.db"
    own.parent.mkdir(parents=True)
    shutil.copyfile(demo_template, own)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("BAKING_TRACKER_ENV", raising=False)
    nb = nbformat.read(COMMITTED, as_version=4)
    sockets = tmp_path / "k"  # the kernel's connection file and sockets, removed with tmp_path
    sockets.mkdir()
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(nb, km=kernel_manager(sockets), timeout=300, resources=resources).execute()
    assert errors(nb) == []
    demo = tmp_path / "bakemigrate-demo-work-demo" / "bake_tracker.db"
    assert inspect_database(demo).schema_version == "0.6"
    preflight = " ".join(texts(cell(nb, "step-0-preflight")))
    assert "rehearsal on a demo database" in preflight
    assert 'DB_PATH = r"~/Documents/BakeTracker/bake_tracker.db"' in preflight
    assert str(home) not in preflight  # the home folder is written ~, which the settings cell accepts
    assert inspect_database(own).schema_version == "0.6"
    assert texts(cell(nb, "step-7-switch"))[0].startswith("not switched: confirmation needed")
    assert texts(cell(nb, "step-8-rollback")) == ["No rollback asked for: your database stays as it is."]
    recorded = [out["metadata"][OUTCOME_KEY] for c in nb.cells for out in c.get("outputs", [])
                if OUTCOME_KEY in out.get("metadata", {})]  # what `bakemigrate notebook` judges the run by
    assert (recorded[-1]["exit_code"], recorded[-1]["status"]) == (2, "not-switched")
    assert "set CONFIRM_SWITCH = True" in recorded[-1]["message"]


def test_record_without_html_copy_says_why(tmp_path, monkeypatch) -> None:
    from bakemigrate.notebook import runner

    def broken(nb):
        raise ValueError("No template sub-directory with name 'lab'")

    monkeypatch.setattr(runner, "html_record", broken)
    record = tmp_path / "r.ipynb"
    result = run_notebook(tmp_path / "nope.db", tmp_path / "work", record, html=True)
    assert (result.exit_code, result.cell, result.html) == (2, "step-0-preflight", None)
    assert result.note == "no HTML copy (ValueError: No template sub-directory with name 'lab')"
    assert not (tmp_path / "r.html").exists()
    assert cell(nbformat.read(record, as_version=4), "step-0-preflight").outputs  # the record itself is written


def test_an_interrupted_migration_resumes_from_its_journal(fixture_db, tmp_path) -> None:
    work = tmp_path / "work"
    migration = Migration(fixture_db, work, progress=False)
    backup = migration.backup()
    migration.transform()
    result = run_notebook(fixture_db, work, tmp_path / "record.ipynb", html=False)
    assert result.exit_code == 0, result.summary_line()
    assert read_manifest(fixture_db, work).sha256 == backup.sha256
    assert inspect_database(fixture_db).schema_version == "0.7"


def test_a_windows_path_mangled_by_escapes_is_explained_without_a_traceback(tmp_path) -> None:
    mangled = "D:\x08ake-tracker\\data\x08ake_tracker.db"  # a plain "D:\bake-tracker\data\bake_tracker.db"
    result = run_notebook(mangled, tmp_path / "work", tmp_path / "record.ipynb", html=False)
    assert (result.exit_code, result.cell) == (2, "start")
    assert "DB_PATH looks like a Windows path" in result.message and 'r"C:\\Users' in result.message
    nb = nbformat.read(result.output, as_version=4)
    shown = [o for o in cell(nb, "start").outputs if o.output_type == "error"]
    assert len(shown) == 1 and "Traceback" not in "".join(shown[0].traceback)
    assert len(shown[0].traceback) == 1
    assert not (tmp_path / "work").exists()


# ---- any cell, alone, on a fresh kernel --------------------------------------------------------------

CODE_CELLS = [c.id for c in nbformat.read(COMMITTED, as_version=4).cells if c.cell_type == "code"]


def run_alone(folder: Path, cell_ids: list[str], *, settings: dict | None = None,
              edits: dict[str, list[tuple[str, str]]] | None = None) -> nbformat.NotebookNode:
    """The chosen cells of the committed notebook, run in order on a fresh kernel in `folder`.

    With `settings`, an injected settings cell runs first; `edits` replaces text in a cell's source.
    """
    from nbclient import NotebookClient

    from bakemigrate.notebook import kernel_manager

    nb = nbformat.read(COMMITTED, as_version=4)
    ids = list(cell_ids)
    if settings is not None:
        nb = inject_parameters(nb, **settings)
        ids.insert(0, "injected-parameters")
    for cell_id, changes in (edits or {}).items():
        for old, new in changes:
            assert old in cell(nb, cell_id).source
            cell(nb, cell_id).source = cell(nb, cell_id).source.replace(old, new)
    chosen = []
    for i in ids:  # a cell run twice appears twice, the second time as "<id>-again"
        again = copy.deepcopy(cell(nb, i))
        if any(c.id == i for c in chosen):
            again.id = f"{i}-again"
        chosen.append(again)
    nb.cells = chosen
    with tempfile.TemporaryDirectory(prefix="bmk-") as sockets:
        NotebookClient(nb, km=kernel_manager(sockets), timeout=300, allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def shown(c: nbformat.NotebookNode) -> str:
    return "\n".join(texts(c)) + html_of(c)


def test_every_cell_alone_without_settings_says_to_run_them(tmp_path) -> None:
    ids = [i for i in CODE_CELLS if i != "parameters"]
    nb = run_alone(tmp_path, ids)
    assert errors(nb) == []
    for cell_id in ids:
        assert "run the cell under *Settings* first" in shown(cell(nb, cell_id)), cell_id
    assert list(tmp_path.iterdir()) == []  # nothing made: no work folder, no demo database


@pytest.mark.slow
@pytest.mark.parametrize("cell_id", [i for i in CODE_CELLS if i != "parameters"])
def test_each_cell_alone_after_the_settings_explains_itself(tmp_path, cell_id) -> None:
    """On a fresh work folder: a cell runs its step when it can, else says which cell to run."""
    settings = {"DB_PATH": None, "WORK_DIR": "work", "INFER_LOSSES": False, "CONFIRM_SWITCH": True}
    nb = run_alone(tmp_path, [cell_id], settings=settings)
    assert errors(nb) == [], cell_id
    text = shown(cell(nb, cell_id))
    expected = {
        "start": "- database: `work-demo/bake_tracker.db`",
        "step-0-preflight": "bake-tracker v0.6",
        "step-1-backup": "integrity ok",  # runs: the preflight runs quietly first
        "step-2-export": "needs step 1 · backup first: run the cells from the top",
        "step-3-transform": "needs step 2 · export first",
        "step-4-reset": "needs step 3 · transform first",
        "step-5-import": "needs step 4 · reset first",
        "step-6-verify": "needs step 5 · import first",
        "step-6-rows": "Nothing to show yet: run the cell of step 6 · verify first",
        "step-6-verdict": "Nothing to show yet",
        "step-7-switch": "needs step 6 · verify first",
        "step-8-rollback": "No rollback asked for",
        "finish": "Not finished yet.",
    }.get(cell_id, "Nothing to show yet")
    assert expected in text, (cell_id, text)
    demo = tmp_path / "work-demo" / "bake_tracker.db"
    assert inspect_database(demo).schema_version == "0.6"


@pytest.fixture(scope="module")
def switched_work(tmp_path_factory):
    """A folder where the notebook ran to the end on a demo database (switched)."""
    root = tmp_path_factory.mktemp("switched")
    nb = run_alone(root, [i for i in CODE_CELLS if i != "parameters"], settings=SETTINGS_CONFIRMED)
    assert errors(nb) == []
    return root, nb


SETTINGS_CONFIRMED = {"DB_PATH": None, "WORK_DIR": "work", "INFER_LOSSES": False, "CONFIRM_SWITCH": True}


def test_after_the_switch_each_cell_alone_shows_the_record(switched_work) -> None:
    """A fresh kernel after the switch: the verification kept in the work folder, no traceback."""
    root, first = switched_work
    ids = [i for i in CODE_CELLS if i.startswith("step-6") or i in ("step-7-switch", "finish")]
    for cell_id in ids:
        nb = run_alone(root, [cell_id], settings=SETTINGS_CONFIRMED)
        assert errors(nb) == [], cell_id
        text = shown(cell(nb, cell_id))
        if cell_id.startswith("step-6"):
            assert "From the migration of 20" in text, cell_id
            assert table_rows_of(html_of(cell(nb, cell_id))) == table_rows_of(html_of(cell(first, cell_id)))
        elif cell_id == "step-7-switch":
            assert "Switched on 20" in text
        else:
            assert "Nothing to do." in text
    assert inspect_database(root / "work-demo" / "bake_tracker.db").schema_version == "0.7"


def test_rerunning_the_setup_cell_keeps_what_is_done(tmp_path) -> None:
    """Settings changed to confirm, then the setup cell and the switch cell again: it switches."""
    settings = dict(SETTINGS_CONFIRMED, CONFIRM_SWITCH=False)
    ids = [i for i in CODE_CELLS if i not in ("parameters", "finish")]
    confirmed = {"parameters": [('WORK_DIR = None', 'WORK_DIR = "work"'),
                                ("CONFIRM_SWITCH = False", "CONFIRM_SWITCH = True")]}
    nb = run_alone(tmp_path, [*ids, "parameters", "start", "step-7-switch", "finish"], settings=settings,
                   edits=confirmed)
    assert errors(nb) == []
    assert texts(cell(nb, "step-7-switch"))[0].startswith("not switched: confirmation needed")
    assert "steps run so far in this session are kept" in shown(cell(nb, "start-again"))
    assert texts(cell(nb, "step-7-switch-again"))[0].startswith("switched: work-demo/bake")
    assert "**Done.** PASS:" in shown(cell(nb, "finish"))
    demo = tmp_path / "work-demo" / "bake_tracker.db"
    assert inspect_database(demo).schema_version == "0.7"


def test_the_rollback_cell_alone_on_a_fresh_kernel_puts_the_backup_back(tmp_path) -> None:
    done = run_alone(tmp_path, [i for i in CODE_CELLS if i != "parameters"], settings=SETTINGS_CONFIRMED)
    demo = tmp_path / "work-demo" / "bake_tracker.db"
    assert errors(done) == [] and inspect_database(demo).schema_version == "0.7"
    nb = run_alone(tmp_path, ["step-8-rollback"], settings=SETTINGS_CONFIRMED,
                   edits={"step-8-rollback": [("ROLLBACK = False", "ROLLBACK = True")]})
    assert errors(nb) == []
    assert "is the pre-migration database again" in shown(cell(nb, "step-8-rollback"))
    assert inspect_database(demo).schema_version == "0.6"
    assert sha256_file(demo) == read_manifest(demo, tmp_path / "work").sha256  # the backup, back in place


# ---- the guide page says what the cells really show -------------------------------------------------

GUIDE_SECTIONS = {
    "Settings": ["start"],
    "Preflight": ["step-0-preflight"],
    "Backup": ["step-1-backup"],
    "Export": ["step-2-export"],
    "Transform": ["step-3-transform"],
    "Reset, import": ["step-4-reset", "step-5-import"],
    "Verify: the checks": ["step-6-verify"],
    "Verify: rows per table": ["step-6-rows"],
    "Verify: field by field": ["step-6-fields"],
    "Verify: statuses": ["step-6-statuses"],
    "Verify: the verdict": ["step-6-verdict"],
    "Switch": ["step-7-switch"],
    "Rollback": ["step-8-rollback"],
    "How it went": ["finish"],
}


def visible_text(c: nbformat.NotebookNode) -> str:
    """What a person reads in a cell's outputs: Markdown unescaped, HTML without its tags."""
    parts = []
    for o in c.outputs:
        data = o.get("data", {})
        if "text/html" in data:
            page = re.sub(r"<style.*?</style>", " ", data["text/html"], flags=re.S)
            parts.append(re.sub(r"<[^>]+>", " ", page))
        elif "text/markdown" in data:
            parts.append(re.sub(r"\\(.)", r"\1", data["text/markdown"]))
    return " ".join(" ".join(parts).split())


def test_the_guide_shows_what_each_cell_really_shows(demo_run) -> None:
    result, _ = demo_run
    record = nbformat.read(result.output, as_version=4)
    page = (REPO / "docs" / "guide" / "notebook.md").read_text(encoding="utf-8")
    table = page.split("<!-- cells-shown:", 1)[1].split("\n\n", 1)[0]
    rows = [[v.strip() for v in line.strip("|").split("|")] for line in table.splitlines()[3:]]
    assert [r[0] for r in rows] == list(GUIDE_SECTIONS)
    for section, shown_there, _ in rows:
        phrases = re.findall(r'"([^"]+)"', shown_there)
        assert phrases, section
        text = " ".join(visible_text(cell(record, i)) for i in GUIDE_SECTIONS[section])
        for phrase in phrases:
            assert phrase in text, (section, phrase)
