"""A large history is exported, its trusted document imported and compared by the verification, by
two processes, half the runs each: the same bytes, the same rows, the same refusals, the same
findings, and the work done in order whenever the halves meet a problem or no second process can start.

`HALVES_RUNS` and `HALVES_BYTES` are set to 0 here so that the demo database is shared like a large one.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import bakemigrate.exporter as exporter
import bakemigrate.halves as halves
import bakemigrate.importer as importer
import bakemigrate.verify as verify_module
from bakemigrate.db import content_digest
from bakemigrate.errors import InvalidDocument
from bakemigrate.exporter import export_and_transform
from bakemigrate.importer import import_
from bakemigrate.jsonstream import own_runs_before, own_runs_with_text, own_split
from bakemigrate.pipeline import Migration
from bakemigrate.reset import reset
from bakemigrate.transform import counted_runs


@pytest.fixture
def exported(demo_db: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The backup of the demo database and its v1.1 document, as a migration writes them."""
    migration = Migration(demo_db, tmp_path / "work", progress=False)
    backup = migration.backup()
    migration.export()
    return backup.path, migration.export_v11


def _staging(backup: Path, folder: Path) -> Path:
    folder.mkdir()
    staging = folder / "staging.db"
    reset(backup, staging)
    return staging


def _import(document: Path, staging: Path, monkeypatch: pytest.MonkeyPatch, *, halves: bool):
    monkeypatch.setattr(importer, "HALVES_BYTES", 0 if halves else 1 << 62)
    return import_(document, staging, progress=False, trusted=True)


def _recorded(monkeypatch: pytest.MonkeyPatch, method: str) -> list[Any]:
    """What `SecondHalf`'s ``method`` gave, call by call, as the first process reads it."""
    values: list[Any] = []
    original = getattr(halves.SecondHalf, method)

    def recorded(self):
        value = original(self)
        values.append(value)
        return value

    monkeypatch.setattr(halves.SecondHalf, method, recorded)
    return values


@pytest.fixture
def second_halves(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each second process answered (its rows per table), recorded as the import reads it."""
    return _recorded(monkeypatch, "result")


def test_own_split_cuts_the_runs_in_two_without_losing_one(exported: tuple[Path, Path]) -> None:
    _, document = exported
    cut = own_split(document)
    assert cut is not None
    first = [text for text, _ in own_runs_with_text(document, stop=cut)]
    second = [text for text, _ in own_runs_with_text(document, start=cut)]
    assert first and second
    assert first + second == [text for text, _ in own_runs_with_text(document)]
    assert abs(len(first) - len(second)) < len(first) // 2
    assert own_runs_before(document, cut) == len(first)


def test_own_split_of_a_single_run_gives_no_cut(tmp_path: Path) -> None:
    from bakemigrate.formats import RunsWriter

    path = tmp_path / "one.json"
    with open(path, "wb") as fh:
        writer = RunsWriter(fh, {"version": "1.1"})
        writer.write({"uuid": "a", "notes": "x" * 1000})
        writer.close()
    assert own_split(path) is None


def test_halves_import_exactly_what_the_import_in_order_imports(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second_halves
) -> None:
    backup, document = exported
    in_order = _staging(backup, tmp_path / "in-order")
    in_halves = _staging(backup, tmp_path / "in-halves")
    ordered = _import(document, in_order, monkeypatch, halves=False)
    assert not second_halves
    halved = _import(document, in_halves, monkeypatch, halves=True)
    assert len(second_halves) == 1 and 0 < second_halves[0][0][0] < ordered.runs  # the second process took runs
    assert (halved.runs, halved.consumptions, halved.losses, halved.warnings) == (
        ordered.runs, ordered.consumptions, ordered.losses, ordered.warnings)
    assert content_digest(in_halves) == content_digest(in_order)
    assert sorted(p.name for p in in_halves.parent.iterdir()) == ["staging.db"]  # the second half's file is gone


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each second process told on the way (`tell_parent`), as the first process reads it."""
    return _recorded(monkeypatch, "said")


def test_the_second_half_of_an_import_is_written_and_copied_in_parts(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second_halves, told
) -> None:
    backup, document = exported
    staging = _staging(backup, tmp_path / "in-parts")
    report = _import(document, staging, monkeypatch, halves=True)
    split = own_split(document, importer.IMPORT_SHARE)
    assert split is not None
    bounds = importer._part_bounds(document, split)
    assert len(bounds) == importer.IMPORT_PARTS  # a part each, told as it is written, in order
    assert len(told) == len(bounds)
    (counts, _), = second_halves
    assert [sum(column) for column in zip(*told, strict=True)] == counts
    runs_of_parts = [len(list(own_runs_with_text(document, start=start, stop=stop))) for start, stop in bounds]
    assert [runs for runs, _, _ in told] == runs_of_parts and all(runs_of_parts)
    assert sum(runs_of_parts) + len(list(own_runs_with_text(document, stop=split))) == report.runs
    assert sorted(p.name for p in staging.parent.iterdir()) == ["staging.db"]  # every part's file is gone


def test_own_split_at_shares_of_the_file_cuts_it_in_parts_in_order(exported: tuple[Path, Path]) -> None:
    _, document = exported
    cuts = [own_split(document, at) for at in (0.2, 0.4, 0.6, 0.8)]
    assert all(cut is not None for cut in cuts) and cuts == sorted(set(cuts))
    size = document.stat().st_size
    assert all(at * size <= cut for at, cut in zip((0.2, 0.4, 0.6, 0.8), cuts, strict=True))
    bounds = list(zip([0, *cuts], [*cuts, None], strict=True))
    parts = [[text for text, _ in own_runs_with_text(document, start=start, stop=stop)] for start, stop in bounds]
    assert all(parts)
    assert [text for part in parts for text in part] == [text for text, _ in own_runs_with_text(document)]


def test_what_a_second_process_tells_comes_before_its_answer(exported: tuple[Path, Path]) -> None:
    """`said` gives what `tell_parent` sent, in order; asked of a process that answered without
    telling, it fails, and `result` still gives the answer."""
    _, document = exported
    with halves.SecondHalf("bakemigrate.jsonstream:own_split", str(document)) as second:
        with pytest.raises(halves.SecondHalfFailed, match="answered before it said"):
            second.said()
        assert second.result() == own_split(document)
    with halves.SecondHalf("bakemigrate.jsonstream:own_split", str(document), None) as second:
        with pytest.raises(halves.SecondHalfFailed, match="TypeError"):
            second.said()
        with pytest.raises(halves.SecondHalfFailed, match="TypeError"):
            second.result()


@pytest.mark.parametrize("where", ["first", "second", "last"])
def test_a_problem_in_either_half_is_refused_as_the_import_in_order_refuses_it(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    backup, document = exported
    cut = own_split(document, importer.IMPORT_SHARE)
    assert cut is not None
    data = document.read_bytes()
    # a recipe that does not exist: in the last run before the cut, the first after it, or the last
    # run of the document (after the second process's first parts are copied in)
    at = {"first": lambda: data.rindex(b'"recipe_uuid": "', 0, cut),
          "second": lambda: data.index(b'"recipe_uuid": "', cut),
          "last": lambda: data.rindex(b'"recipe_uuid": "')}[where]()
    start = at + len(b'"recipe_uuid": "')
    broken = tmp_path / "broken.json"
    broken.write_bytes(data[:start] + b"00000000-0000-4000-8000-000000000000" + data[start + 36:])
    messages = []
    for in_halves in (False, True):
        staging = _staging(backup, tmp_path / f"halves-{in_halves}")
        with pytest.raises(InvalidDocument) as refused:
            _import(broken, staging, monkeypatch, halves=in_halves)
        messages.append(str(refused.value))
        conn = sqlite3.connect(staging)
        assert conn.execute("SELECT count(*) FROM production_runs").fetchone()[0] == 0  # nothing imported
        conn.close()
        assert sorted(p.name for p in staging.parent.iterdir()) == ["staging.db"]
    assert "does not exist in the database" in messages[0]
    assert messages[1] == messages[0]


def test_without_a_second_process_the_import_is_made_in_order(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second_halves
) -> None:
    backup, document = exported
    in_order = _staging(backup, tmp_path / "in-order")
    _import(document, in_order, monkeypatch, halves=False)
    alone = _staging(backup, tmp_path / "alone")
    monkeypatch.setattr(halves.sys, "executable", "")  # no interpreter to start
    report = _import(document, alone, monkeypatch, halves=True)
    assert not second_halves
    assert report.runs == 200
    assert content_digest(alone) == content_digest(in_order)


def _documents(db: Path, folder: Path, monkeypatch: pytest.MonkeyPatch, *, halves: bool, infer_losses: bool):
    """Both documents of ``db`` (their export time left out) and the transform's report."""
    monkeypatch.setattr(exporter, "HALVES_RUNS", 0 if halves else 1 << 62)
    folder.mkdir()
    _, report = export_and_transform(db, folder / "v10.json", folder / "v11.json", infer_losses=infer_losses,
                                     progress=False, halves=True)
    assert sorted(p.name for p in folder.iterdir()) == ["v10.json", "v11.json"]  # the halves' files are gone
    written = [re.sub(rb'"exported_at": "[^"]*"', b"", (folder / name).read_bytes())
               for name in ("v10.json", "v11.json")]
    # an inferred loss gets a new uuid each time it is inferred: compared apart
    loss_uuids = re.compile(rb'("losses": \[\n        \{\n          "uuid": )"[0-9a-f-]{36}"')
    found = loss_uuids.findall(written[1])
    assert bool(found) == infer_losses
    written[1] = loss_uuids.sub(rb'\1"?"', written[1])
    return written, report


@pytest.mark.parametrize("infer_losses", [False, True])
def test_halves_export_the_bytes_the_export_in_order_writes(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second_halves, infer_losses: bool
) -> None:
    backup, _ = exported
    ordered, ordered_report = _documents(backup, tmp_path / "in-order", monkeypatch, halves=False,
                                         infer_losses=infer_losses)
    assert not second_halves
    halved, halved_report = _documents(backup, tmp_path / "in-halves", monkeypatch, halves=True,
                                       infer_losses=infer_losses)
    assert len(second_halves) == 1
    written, counted = second_halves[0]
    assert 0 < written < ordered_report.runs_total  # the second process wrote runs of both documents
    assert halved == ordered
    assert counted_runs(halved_report) == counted_runs(ordered_report)
    # the shortfalls of both halves, in the document's order
    mine = [gap.position for gap in halved_report.shortfalls if gap.position < halved_report.runs_total - written]
    assert mine and counted["shortfalls"] and min(g["position"] for g in counted["shortfalls"]) > max(mine)


def test_without_a_second_process_the_export_is_written_in_order(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second_halves
) -> None:
    backup, _ = exported
    ordered, ordered_report = _documents(backup, tmp_path / "in-order", monkeypatch, halves=False, infer_losses=True)
    monkeypatch.setattr(halves.sys, "executable", "")
    alone, alone_report = _documents(backup, tmp_path / "alone", monkeypatch, halves=True, infer_losses=True)
    assert not second_halves
    assert alone == ordered
    assert counted_runs(alone_report) == counted_runs(ordered_report)


def test_a_second_half_stops_when_the_process_that_started_it_is_gone(tmp_path: Path) -> None:
    """A first process killed with SIGKILL: its second process stops at its next batch instead of
    importing its whole half (the next run removes the file it leaves, as any temporary file)."""
    import subprocess
    import sys
    import time

    import psutil

    db = tmp_path / "bake_tracker.db"
    subprocess.run([sys.executable, "-m", "bakemigrate", "demo", str(db), "--runs", "20000"], check=True,
                   capture_output=True)
    migration = Migration(db, tmp_path / "work", progress=False)
    backup = migration.backup()
    migration.export()
    staging = _staging(backup.path, tmp_path / "staging")
    part = tmp_path / "part.db"
    part.touch()
    script = f"""
import os, sqlite3
from bakemigrate.halves import SecondHalf
from bakemigrate.importer import _Resolver
from bakemigrate.jsonstream import own_split
document = {str(migration.export_v11)!r}
rows = _Resolver.of(sqlite3.connect({str(staging)!r})).rows
second = SecondHalf("bakemigrate.importer:_import_second_half", document, [[own_split(document), None]],
                    [{str(part)!r}], rows,
                    "2026-01-01 00:00:00.000000").__enter__()
print(second._process.pid, flush=True)
os._exit(9)
"""
    started = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    child = int(started.stdout)
    deadline = time.monotonic() + 60
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the second process goes on without the first"
        time.sleep(0.05)
    conn = sqlite3.connect(part)
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    kept = conn.execute("SELECT count(*) FROM production_consumptions").fetchone()[0] if tables else 0
    conn.close()
    half = [run for _, run in own_runs_with_text(migration.export_v11, start=own_split(migration.export_v11))]
    # it stopped after its first batch, not at the end of its half
    assert kept <= importer.BATCH_ROWS < sum(len(run["consumptions"]) for run in half)


def test_a_second_half_whose_answer_is_not_taken_is_stopped_without_waiting_for_it(tmp_path: Path) -> None:
    """Leaving the context without taking the result (the first half found something amiss) stops
    the second process: its answer, larger than a pipe holds, never keeps the first one waiting."""
    import subprocess
    import sys
    import threading

    db = tmp_path / "bake_tracker.db"
    subprocess.run([sys.executable, "-m", "bakemigrate", "demo", str(db), "--runs", "20000"], check=True,
                   capture_output=True)
    part10, part11 = tmp_path / "part10", tmp_path / "part11"
    header = {"version": "1.0", "exported_at": "2026-01-01T00:00:00"}
    processes = []

    def leave_without_the_result() -> None:
        # every run in the second half, with inferred losses: an answer of a thousand shortfalls
        with halves.SecondHalf("bakemigrate.exporter:_export_second_half", str(db), "1.0", header,
                               ["9999-12-31 23:59:59.999999", 2**62], 0, True, str(part10), str(part11)) as second:
            processes.append(second._process)

    leaving = threading.Thread(target=leave_without_the_result, daemon=True)
    leaving.start()
    leaving.join(timeout=120)
    assert not leaving.is_alive(), "leaving the context waits for an answer nobody reads"
    assert processes and processes[0].returncode is not None


@pytest.fixture
def imported(demo_db: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The backup, the staging database and the v1.0 document of a migration made up to its import."""
    migration = Migration(demo_db, tmp_path / "work", progress=False)
    for step in ("backup", "export", "transform", "reset", "import_"):
        getattr(migration, step)()
    return migration.folder.backup_file, migration.staging, migration.export_v10


def _verified(imported: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, *, halves: bool) -> list:
    """What the trusted verification finds, every table of its result."""
    monkeypatch.setattr(verify_module, "HALVES_BYTES", 0 if halves else 1 << 62)
    result = verify_module.verify(*imported, trusted=True)
    return [result.passed, result.shortfall_runs, result.shortfall_items, result.shortfall_made_nothing,
            *(frame.to_dict("records") for frame in (result.checks, result.fields, result.mismatches,
                                                      result.shortfalls))]


def _change_staging_run(imported: tuple[Path, Path, Path], where: str) -> None:
    """Change the notes of the staging run that comes first after the cut of the document, or last before it."""
    _, staging, document = imported
    cut = own_split(document)
    assert cut is not None
    texts = [text for text, _ in own_runs_with_text(document, stop=cut)] if where == "first" else [
        next(text for text, _ in own_runs_with_text(document, start=cut))]
    uuid = re.search(rb'"uuid": "([^"]+)"', texts[-1]).group(1).decode()
    conn = sqlite3.connect(staging)
    conn.execute("UPDATE production_runs SET notes = 'changed' WHERE uuid = ?", (uuid,))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("changed", ["nothing", "first", "second"])
def test_halves_verify_find_what_the_verification_in_order_finds(
    imported: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, second_halves, changed: str
) -> None:
    monkeypatch.setattr(verify_module, "MAX_MISMATCHES", 5)  # the oldest shortfalls of both halves, merged
    if changed != "nothing":
        _change_staging_run(imported, changed)
    ordered = _verified(imported, monkeypatch, halves=False)
    assert not second_halves
    halved = _verified(imported, monkeypatch, halves=True)
    assert halved == ordered
    assert ordered[0] == (changed == "nothing")
    if changed == "nothing":  # the second process compared its half: every run equal
        assert len(second_halves) == 1 and 0 < second_halves[0]["before"] < 200
        assert second_halves[0]["runs"][0] == 200 - second_halves[0]["before"]
        assert len(ordered[-1]) == 5 and ordered[1] > 5  # more shortfalls than are shown
    else:  # a run that differs is compared again in order, where its difference is shown
        assert second_halves == ([None] if changed == "second" else [])
        assert [m["column"] for m in ordered[-2] if m["table"] == "document: runs"] == ["notes"]


def test_without_a_second_process_the_verification_compares_in_order(
    imported: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, second_halves
) -> None:
    ordered = _verified(imported, monkeypatch, halves=False)
    monkeypatch.setattr(halves.sys, "executable", "")
    assert _verified(imported, monkeypatch, halves=True) == ordered
    assert not second_halves
