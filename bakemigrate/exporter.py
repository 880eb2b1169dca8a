"""Step 2, export: the production history as the app's export document, with nothing left out.

The document is the app's own format (v1.0 for a v0.6 database, v1.1 for a v0.7 one: same keys,
same order, same serialization, so the app's import reads it), without the app's 10,000-run cap,
plus extension keys that make the round trip exact:

- per run: ``id``, ``created_at``, ``updated_at``, ``recipe_uuid``, ``finished_unit_uuid``,
  ``event_uuid``, ``event_name``;
- per consumption (and loss): ``id``, ``created_at``, ``updated_at``;
- on any of them, ``stored_values``: the NUMERIC values whose 4-decimal (3 for a quantity) text
  would not store back the very value the database holds (``8.1709375`` stored, ``"8.1709"`` in
  the app's format), as exact text, so the import writes them exactly.

Runs are streamed from the database to the file one at a time, so memory stays flat at any size.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .db import DatabaseInfo, inspect_database, open_database, refuse_unexportable_values
from .errors import MigrationError
from .files import temporary_beside
from .formats import RunsWriter
from .halves import SecondHalf, SecondHalfFailed, stop_if_parent_gone
from .jsonio import WRITE_BUFFER, atomic_writer
from .paths import app_database, refuse_output_over, same_file
from .progress import progress_bar
from .transform import StreamedTransform, TransformReport, counted_runs
from .values import STORED_VALUES_KEY, db_datetime_to_iso, db_number_to_text, stored_number

RUN_EXTENSION_KEYS = (
    "id", "created_at", "updated_at", "recipe_uuid", "finished_unit_uuid", "event_uuid", "event_name"
)
CHILD_EXTENSION_KEYS = ("id", "created_at", "updated_at")

_RUNS_SQL = """
SELECT r.id, r.uuid, rec.name, fu.slug, r.num_batches, r.expected_yield, r.actual_yield,
       r.produced_at, r.notes, r.total_ingredient_cost, r.per_unit_cost, {status_columns}
       r.created_at, r.updated_at, rec.uuid, fu.uuid, ev.uuid, ev.name
FROM production_runs AS r
JOIN recipes AS rec ON rec.id = r.recipe_id
JOIN finished_units AS fu ON fu.id = r.finished_unit_id
LEFT JOIN events AS ev ON ev.id = r.event_id
{where}
ORDER BY r.produced_at DESC, r.id DESC
"""
_CONSUMPTIONS_SQL = """
SELECT c.production_run_id, c.uuid, c.ingredient_slug, c.quantity_consumed, c.unit, c.total_cost,
       c.id, c.created_at, c.updated_at
FROM production_consumptions AS c JOIN production_runs AS r ON r.id = c.production_run_id
{where}
ORDER BY r.produced_at DESC, r.id DESC, c.id
"""
_LOSSES_SQL = """
SELECT x.production_run_id, x.uuid, x.loss_category, x.loss_quantity, x.per_unit_cost, x.total_loss_cost,
       x.notes, x.id, x.created_at, x.updated_at
FROM production_losses AS x JOIN production_runs AS r ON r.id = x.production_run_id
{where}
ORDER BY r.produced_at DESC, r.id DESC, x.id
"""
_RUNS_COUNT_SQL = """
SELECT count(*) FROM production_runs AS r
JOIN recipes AS rec ON rec.id = r.recipe_id
JOIN finished_units AS fu ON fu.id = r.finished_unit_id
{where}
"""
_BEFORE_KEY = "(r.produced_at > :at OR (r.produced_at = :at AND r.id > :id))"
"""The runs before the run ``(at, id)`` in the export's order (newest first)."""
HALVES_RUNS = 3_000
"""A backup with this many runs is exported by two processes, half the runs each (`_write_in_halves`)."""


@dataclass
class ExportResult:
    """What the export wrote."""

    path: Path
    version: str
    runs: int
    consumptions: int
    losses: int
    size_bytes: int

    def summary_line(self) -> str:
        """One line for the terminal."""
        return (
            f"exported {self.runs} production runs, {self.consumptions} consumptions"
            f" to {self.path} (version {self.version}, {self.size_bytes:,} bytes)"
        )


def _stored_values(item: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """``item`` with ``stored_values`` for the NUMERIC values its 4-decimal texts do not give back exactly."""
    exact = {}
    for name, value in stored.items():
        text = stored_number(value, item[name])
        if text is not None:
            exact[name] = text
    if exact:
        item[STORED_VALUES_KEY] = exact
    return item


def _consumption(row: tuple[Any, ...]) -> dict[str, Any]:
    _, uuid, slug, qty, unit, cost, cid, created, updated = row
    # The usual stored types are converted inline (the functions decide the rest): there are
    # about four consumptions per run, so this is the exporter's innermost loop.
    qty_text = f"{qty:.3f}" if type(qty) is float else db_number_to_text(qty, 3)
    cost_text = f"{cost:.4f}" if type(cost) is float else db_number_to_text(cost, 4)
    item = {
        "uuid": uuid,
        "ingredient_slug": slug,
        "quantity_consumed": qty_text,
        "unit": unit,
        "total_cost": cost_text,
        "id": cid,
        "created_at": (created_at := db_datetime_to_iso(created)),
        # the app writes both at once: converted once when they are the same text
        "updated_at": created_at if updated == created and type(updated) is str else db_datetime_to_iso(updated),
    }
    exact_qty, exact_cost = stored_number(qty, qty_text), stored_number(cost, cost_text)
    if exact_qty is not None or exact_cost is not None:
        item[STORED_VALUES_KEY] = {
            name: text for name, text in (("quantity_consumed", exact_qty), ("total_cost", exact_cost)) if text
        }
    return item


def _loss(row: tuple[Any, ...]) -> dict[str, Any]:
    _, uuid, category, qty, per_unit, total, notes, lid, created, updated = row
    item = {
        "uuid": uuid,
        "loss_category": category,
        "loss_quantity": qty,
        "per_unit_cost": db_number_to_text(per_unit, 4),
        "total_loss_cost": db_number_to_text(total, 4),
        "notes": notes,
        "id": lid,
        "created_at": db_datetime_to_iso(created),
        "updated_at": db_datetime_to_iso(updated),
    }
    return _stored_values(item, {"per_unit_cost": per_unit, "total_loss_cost": total})


class _ChildrenInRunOrder:
    """The rows of a child table, read in the runs' own order: each run takes its rows in turn."""

    def __init__(self, conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> None:
        self._rows = conn.execute(sql, params)
        self._next = next(self._rows, None)

    def take(self, run_id: int) -> list[tuple[Any, ...]]:
        """The rows of run ``run_id`` (the runs must be asked for in the same order)."""
        rows = []
        while self._next is not None and self._next[0] == run_id:
            rows.append(self._next)
            self._next = next(self._rows, None)
        return rows


def _half_of_the_runs(half: tuple[bool, Any, int] | None) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and its parameters of ``half``: ``(after, at, id)``, the runs before the run
    ``(at, id)`` in the export's order, or (``after``) that run and those after it. None: every run."""
    if half is None:
        return "", {}
    after, at, run_id = half
    return f"WHERE {'NOT ' if after else ''}{_BEFORE_KEY}", {"at": at, "id": run_id}


def iter_runs(
    conn: sqlite3.Connection, version: str, *, half: tuple[bool, Any, int] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield every production run as an export dict, newest first (the app's order); with ``half``,
    one half of them (see `_half_of_the_runs`)."""
    v11 = version == "1.1"
    where, params = _half_of_the_runs(half)
    consumptions = _ChildrenInRunOrder(conn, _CONSUMPTIONS_SQL.format(where=where), params)
    losses = _ChildrenInRunOrder(conn, _LOSSES_SQL.format(where=where), params) if v11 else None
    status_columns = "r.production_status, r.loss_quantity," if v11 else ""
    for row in conn.execute(_RUNS_SQL.format(status_columns=status_columns, where=where), params):
        run_id, uuid, recipe, slug, batches, expected, actual, produced, notes, total, per_unit = row[:11]
        rest = row[11:]
        run: dict[str, Any] = {
            "uuid": uuid,
            "recipe_name": recipe,
            "finished_unit_slug": slug,
            "num_batches": batches,
            "expected_yield": expected,
            "actual_yield": actual,
            "produced_at": db_datetime_to_iso(produced),
            "notes": notes,
            "total_ingredient_cost": db_number_to_text(total, 4),
            "per_unit_cost": db_number_to_text(per_unit, 4),
        }
        if v11:
            run["production_status"], run["loss_quantity"] = rest[0] or "complete", rest[1] or 0
            rest = rest[2:]
        run["consumptions"] = [_consumption(c) for c in consumptions.take(run_id)]
        if v11:
            run["losses"] = [_loss(x) for x in losses.take(run_id)]
        created, updated, recipe_uuid, fu_uuid, event_uuid, event_name = rest
        run.update(
            id=run_id,
            created_at=(created_at := db_datetime_to_iso(created)),
            updated_at=created_at if updated == created and type(updated) is str else db_datetime_to_iso(updated),
            recipe_uuid=recipe_uuid,
            finished_unit_uuid=fu_uuid,
            event_uuid=event_uuid,
            event_name=event_name,
        )
        yield _stored_values(run, {"total_ingredient_cost": total, "per_unit_cost": per_unit})


def write_document(
    fh: IO[bytes], header: dict[str, Any], runs: Iterator[dict[str, Any]], advance, *, transform=None
) -> int:
    """Stream ``header`` + ``production_runs`` as ``json.dump(doc, indent=2, ensure_ascii=False)`` would.

    ``transform`` (a `StreamedTransform`) gets every run too, once it
    is written. Returns the number of runs.
    """
    writer = RunsWriter(fh, header, numbers_checked=True)  # an export holds no float: numbers are texts
    _write_runs(writer, runs, advance, transform)
    writer.close()
    return writer.count


def _write_runs(writer: RunsWriter, runs: Iterator[dict[str, Any]], advance, transform=None) -> None:
    for run in runs:
        writer.write(run)
        if transform is not None:
            transform.add(run)
        advance(1)


def run_in_export_order(conn: sqlite3.Connection, offset: int) -> tuple[Any, int] | None:
    """``(produced_at, id)`` of the run the export writes at ``offset`` (0: the newest), the key of
    `iter_runs`'s ``half``. None past the last run, or when a run has no date (it is in no half)."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM production_runs WHERE produced_at IS NULL)").fetchone()[0]:
        return None
    return conn.execute(
        "SELECT r.produced_at, r.id FROM production_runs AS r JOIN recipes AS rec ON rec.id = r.recipe_id "
        "JOIN finished_units AS fu ON fu.id = r.finished_unit_id ORDER BY r.produced_at DESC, r.id DESC "
        "LIMIT 1 OFFSET ?", (offset,)).fetchone()


def _halves_key(conn: sqlite3.Connection, runs: int) -> tuple[Any, int, int] | None:
    """``(at, id, before)``: the run in the middle of the export's order, and how many runs come
    before it. None when the runs are too few to share, or a run has no date (it is in no half)."""
    key = run_in_export_order(conn, runs // 2) if runs >= HALVES_RUNS else None
    if key is None:
        return None
    where, params = _half_of_the_runs((False, *key))
    return key[0], key[1], conn.execute(_RUNS_COUNT_SQL.format(where=where), params).fetchone()[0]


def _write_in_halves(conn: sqlite3.Connection, db: Path, fh: IO[bytes], header: dict[str, Any], version: str,
                     key: tuple[Any, int, int], advance, transform: StreamedTransform, infer_losses: bool,
                     out: Path) -> int:
    """Write the runs before ``key`` here and, at the same time, those from it on in a second process.

    The second process writes its runs' bytes, of both documents, to files of its own, appended
    here once this half is written: the documents are byte for byte those of the export in order.
    When it fails, this process writes its half too, in order. Returns the number of runs.
    """
    at, run_id, before = key
    writer = RunsWriter(fh, header, numbers_checked=True)
    with contextlib.ExitStack() as parts:
        part10, part11 = (parts.enter_context(temporary_beside(out)) for _ in range(2))
        with SecondHalf("bakemigrate.exporter:_export_second_half", str(db), version, header, (at, run_id), before,
                        infer_losses, str(part10), str(part11)) as second:
            _write_runs(writer, iter_runs(conn, version, half=(False, at, run_id)), advance, transform)
            try:
                written, report = second.result() if writer.count == before else (None, None)
            except SecondHalfFailed:
                written, report = None, None
        if written is None:  # written here, in order: any problem is found and worded as usual
            _write_runs(writer, iter_runs(conn, version, half=(True, at, run_id)), advance, transform)
        else:
            writer.append(part10, written)
            transform.append(part11, written, report)
            advance(written)
    writer.close()
    return writer.count


def _export_second_half(db: str, version: str, header: dict[str, Any], key: tuple[Any, int], before: int,
                        infer_losses: bool, part10: str, part11: str) -> tuple[int, dict[str, Any]]:
    """In the second process: the runs from ``key`` on, as the export writes them after ``before``
    runs, to ``part10`` and (transformed) ``part11``; returns their number and what the transform
    counted of them (`transform.counted_runs`).
    It stops as soon as the process that started it is gone.

    Raises:
        SystemExit: the first process is gone.
    """
    at, run_id = key
    with open_database(db) as conn, open(part10, "wb", buffering=WRITE_BUFFER) as fh10, \
            open(part11, "wb", buffering=WRITE_BUFFER) as fh11:
        writer = RunsWriter.following(fh10, before, numbers_checked=True)
        transform = StreamedTransform(fh11, header, infer_losses=infer_losses, numbers_checked=True,
                                      following=before)
        conn.execute("BEGIN")
        _write_runs(writer, iter_runs(conn, version, half=(True, at, run_id)), lambda runs: stop_if_parent_gone(),
                    transform)
        conn.execute("COMMIT")
    return writer.count - before, counted_runs(transform.report)


def export(
    db: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: bool = True,
) -> ExportResult:
    """Export every production run of ``db`` to ``output`` (written atomically).

    Raises:
        DatabaseRefused: ``db`` is not a sound bake-tracker database.
        MigrationError: ``output`` exists (without ``force``) or cannot be written.
    """
    return _export(db, output, force=force, progress=progress)[0]


def export_and_transform(
    db: str | os.PathLike[str],
    output: str | os.PathLike[str],
    transformed: str | os.PathLike[str],
    *,
    infer_losses: bool = False,
    progress: bool = True,
    inspected: DatabaseInfo | None = None,
    halves: bool = False,
) -> tuple[ExportResult, TransformReport]:
    """Export ``db`` to ``output`` and, in the same pass, its v1.1 transform to ``transformed``.

    ``transformed`` gets the bytes ``transform(output, transformed, infer_losses=...)`` would
    write, without reading ``output`` back. Both files are written atomically.
    ``inspected`` is the look a run has already taken at the data of ``db`` (the migration's
    preflight, of the database ``db`` is the checked backup of), its values found exportable:
    neither is done again. ``halves`` lets a second process write half of a large history at the
    same time (the same bytes): only for a file nothing changes meanwhile, such as a backup, since
    each process reads its own snapshot of it.

    Raises:
        DatabaseRefused: ``db`` is not a sound bake-tracker database.
        MigrationError: an output exists or cannot be written.
    """
    result, report = _export(db, output, progress=progress, transformed=Path(transformed), infer_losses=infer_losses,
                             inspected=inspected, halves=halves)
    assert report is not None
    report.input, report.output, report.bytes_read = result.path, Path(transformed), result.size_bytes
    return result, report


def _export(
    db: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: bool = True,
    transformed: Path | None = None,
    infer_losses: bool = False,
    inspected: DatabaseInfo | None = None,
    halves: bool = False,
) -> tuple[ExportResult, TransformReport | None]:
    started = time.perf_counter()
    info = inspected
    if info is None:
        info = inspect_database(db, integrity=False)
        refuse_unexportable_values(db)
    version = "1.1" if info.schema_version == "0.7" else "1.0"
    out = Path(output)
    for target in filter(None, (out, transformed)):
        if same_file(target, db):
            raise MigrationError(f"{target}: the output would replace the database itself")
        refuse_output_over(target, [app_database()])
    header = {"version": version, "exported_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat()}
    transform = None
    try:
        with contextlib.ExitStack() as stack:
            conn = stack.enter_context(open_database(db))
            fh = stack.enter_context(atomic_writer(out, force=force, mode="wb"))
            if transformed is not None:
                fh11 = stack.enter_context(atomic_writer(transformed, force=force, mode="wb"))
                transform = StreamedTransform(fh11, header, infer_losses=infer_losses, numbers_checked=True)
            advance = stack.enter_context(progress_bar("export", info.runs, enabled=progress))
            conn.execute("BEGIN")  # one consistent snapshot for runs and their children
            key = _halves_key(conn, info.runs) if halves and transform is not None else None
            if key is None:
                runs = write_document(fh, header, iter_runs(conn, version), advance, transform=transform)
            else:
                assert transform is not None
                runs = _write_in_halves(conn, Path(db), fh, header, version, key, advance, transform, infer_losses,
                                        out)
            conn.execute("COMMIT")
            report = transform.finish() if transform is not None else None
    except OSError as exc:
        raise MigrationError(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"{db}: cannot read the production history ({exc})") from None
    result = ExportResult(
        path=out,
        version=version,
        runs=runs,
        consumptions=info.row_counts.get("production_consumptions", 0),
        losses=info.row_counts.get("production_losses", 0),
        size_bytes=out.stat().st_size,
    )
    if report is not None:
        report.seconds = time.perf_counter() - started
    return result, report
