"""Turn a production-history export v1.0 into v1.1 (and fill the same fields in a full backup).

Every production run gains ``production_status: "complete"``, ``loss_quantity: 0`` and
``losses: []`` where they are absent; everything else is kept exactly, key order included. The new
keys sit where a native v0.7 export puts them: ``production_status`` and ``loss_quantity`` right
after ``per_unit_cost``, ``losses`` right after ``consumptions`` (at the end when those are missing).

Runs that made fewer items than expected (shortfalls) become "complete" with no loss, as the app's
own migration does; they are listed in the report. With ``infer_losses=True`` they are recorded as
losses instead, with the status, loss and costs bake-tracker 0.7's `record_batch_production` gives
([v07_loss][bakemigrate.loss_rules.v07_loss]): a total loss is valued at 0.0000.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .errors import InvalidDocument, MigrationError
from .formats import (
    LOSS_FIELDS,
    DocumentKind,
    FileStyle,
    RunsWriter,
    detect_kind,
    encode_around_runs,
    encode_document,
    encode_run,
    find_problems,
    gc_paused,
    load_document,
    run_problems,
    validate_document,
)
from .jsonio import atomic_writer
from .jsonstream import RUNS_KEY, RunStream
from .loss_rules import INFERRED_LOSS_CATEGORY, inferred_loss_note, total_loss_note, v07_loss
from .paths import app_database, refuse_output_over, same_file

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_COST_DIGITS = 11  # integer digits a cost may have (see definitions.schema.json)
EXAMPLES_KEPT = 1000
"""Runs a `TransformReport` lists as examples in `shortfalls` and `over_yield` (the counts cover every run)."""


@dataclass(frozen=True)
class YieldGap:
    """A production run whose actual yield differs from its expected yield."""

    position: int
    """Index of the run in ``production_runs``."""
    uuid: str | None
    recipe_name: str | None
    produced_at: str | None
    expected_yield: int
    actual_yield: int
    units: int
    """Items missing (shortfall) or made beyond the expected yield (over-yield)."""
    recorded_as: str
    """The run's ``production_status`` after the transform."""
    loss_recorded: bool = False
    """True when the transform recorded the missing items as a loss (``infer_losses``)."""
    total_loss_cost: str | None = None
    """The recorded loss's value (4 decimals; ``"0.0000"`` for a total loss), None without a loss."""

    @property
    def made_nothing(self) -> bool:
        """True for a shortfall that made no item at all (a total loss in 0.7's terms)."""
        return self.actual_yield == 0 and self.units > 0


_COUNTERS = ("runs_transformed", "runs_already_v1_1", "shortfall_count", "over_yield_count", "units_unaccounted",
             "losses_recorded", "total_losses")


@dataclass
class TransformReport:
    """What [transform_v1_0_to_v1_1][bakemigrate.transform_v1_0_to_v1_1] did: counts, and the runs a person
    should know about."""

    kind: DocumentKind
    runs_total: int = 0
    runs_transformed: int = 0
    """Runs that gained at least one of production_status, loss_quantity, losses."""
    runs_already_v1_1: int = 0
    """Runs that already carried all three fields (left as they were)."""
    shortfalls: list[YieldGap] = field(default_factory=list)
    """The first `EXAMPLES_KEPT` runs that made fewer items than expected, in the document's order."""
    over_yield: list[YieldGap] = field(default_factory=list)
    """The first `EXAMPLES_KEPT` runs that made more items than expected."""
    shortfall_count: int = 0
    """How many runs made fewer items than expected (every one, not only the examples)."""
    over_yield_count: int = 0
    """How many runs made more items than expected."""
    units_unaccounted: int = 0
    """Items expected but not made, over every shortfall."""
    losses_recorded: int = 0
    """Shortfalls recorded as losses by this transform."""
    total_losses: int = 0
    """Shortfalls that made nothing: 0.7 records them as total losses valued at 0.0000."""
    infer_losses: bool = False
    input: Path | None = None
    output: Path | None = None
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def megabytes_per_second(self) -> float:
        """Speed of [transform][bakemigrate.transform.transform] (input size over wall time)."""
        return self.bytes_read / 1e6 / self.seconds if self.seconds else 0.0

    def shortfalls_frame(self) -> pd.DataFrame:
        """The shortfalls listed in `shortfalls` as a table (one row per run)."""
        return _frame(self.shortfalls)

    def over_yield_frame(self) -> pd.DataFrame:
        """The runs listed in `over_yield` as a table."""
        return _frame(self.over_yield)

    def summary_line(self) -> str:
        """One line for a person."""
        where = f"{self.output}: " if self.output else ""
        text = (
            f"{where}{self.kind.value}, {self.runs_total} production runs: "
            f"{self.runs_transformed} transformed, {self.runs_already_v1_1} already v1.1"
        )
        if self.shortfall_count:
            if self.losses_recorded:
                text += (
                    f"; {self.shortfall_count} made fewer items than expected "
                    f"({self.units_unaccounted} items), {self.losses_recorded} recorded as losses"
                )
                if self.total_losses:
                    text += f" ({total_loss_note(self.total_losses)})"
            else:
                text += (
                    f"; {self.shortfall_count} made fewer items than expected "
                    f"({self.units_unaccounted} items unaccounted, kept as complete"
                    f"{'' if self.infer_losses else '; --infer-losses records them as losses'})"
                )
        else:
            text += "; no shortfalls"
        if self.over_yield_count:
            text += f"; {self.over_yield_count} made more than expected (left as they are)"
        return text


def _frame(gaps: list[YieldGap]) -> pd.DataFrame:
    import dataclasses

    import pandas as pd

    columns = [f.name for f in dataclasses.fields(YieldGap)]
    return pd.DataFrame([dataclasses.asdict(gap) for gap in gaps], columns=columns)


# --------------------------------------------------------------------------------------------
# The transform


def _with_loss_fields(run: dict[str, Any], added: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``run`` with the ``added`` fields placed as a native v0.7 export places them.

    ``production_status`` and ``loss_quantity`` go right after ``per_unit_cost``, ``losses`` right
    after ``consumptions``; at the end where those keys are missing.
    """
    new: dict[str, Any] = {}
    for key, value in run.items():
        new[key] = value
        if key == "per_unit_cost":
            if "production_status" in added:
                new["production_status"] = added["production_status"]
            if "loss_quantity" in added:
                new["loss_quantity"] = added["loss_quantity"]
        elif key == "consumptions" and "losses" in added:
            new["losses"] = added["losses"]
    for name, value in added.items():
        new.setdefault(name, value)
    return new


def _cost(value: Decimal, place: str) -> str:
    """``value`` (4 decimals, as the app reads it) as text, refused when too large to store."""
    if value.is_finite() and value < 10**_COST_DIGITS:
        return f"{value:f}"
    raise InvalidDocument(f"{place}: the inferred loss cost {value:.4f} is too large to store")


def _inferred_loss(run: dict[str, Any], place: str) -> tuple[str, int, list[dict[str, Any]]]:
    """The status, loss and loss rows bake-tracker 0.7 would have recorded for ``run``."""
    expected, actual = run["expected_yield"], run["actual_yield"]
    try:
        rule = v07_loss(expected, actual, run["total_ingredient_cost"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        raise InvalidDocument(f"{place}: no usable cost to value the inferred loss") from None
    if not rule.has_loss_row:
        return rule.production_status, rule.loss_quantity, []
    import uuid  # only for inferred losses

    loss = {
        "uuid": str(uuid.uuid4()),
        "loss_category": INFERRED_LOSS_CATEGORY,
        "loss_quantity": rule.loss_quantity,
        "per_unit_cost": _cost(rule.stored_per_unit_cost, place),
        "total_loss_cost": _cost(rule.stored_total_loss_cost, place),
        "notes": inferred_loss_note(expected, actual),
    }
    return rule.production_status, rule.loss_quantity, [loss]


def _transform_run(run: dict[str, Any], position: int, report: TransformReport) -> dict[str, Any]:
    """``run`` with the v1.1 fields it lacks, counted (and noted when its yield differs) in ``report``."""
    present = ("production_status" in run, "loss_quantity" in run, "losses" in run)
    if all(present):
        report.runs_already_v1_1 += 1
        return run
    status, loss_quantity, losses = "complete", 0, []
    expected, actual = run.get("expected_yield"), run.get("actual_yield")
    if not any(present) and type(expected) is int and type(actual) is int and expected != actual:
        gap = dict(
            position=position,
            uuid=run.get("uuid"),
            recipe_name=run.get("recipe_name"),
            produced_at=run.get("produced_at"),
            expected_yield=expected,
            actual_yield=actual,
        )
        if actual < expected:
            missing = expected - actual
            if report.infer_losses:
                status, loss_quantity, losses = _inferred_loss(run, f"production_runs[{position}]")
            report.shortfall_count += 1
            report.units_unaccounted += missing
            report.losses_recorded += bool(losses)
            report.total_losses += actual == 0
            if len(report.shortfalls) < EXAMPLES_KEPT:
                report.shortfalls.append(
                    YieldGap(**gap, units=missing, recorded_as=status, loss_recorded=bool(losses),
                             total_loss_cost=losses[0]["total_loss_cost"] if losses else None)
                )
        else:
            report.over_yield_count += 1
            if len(report.over_yield) < EXAMPLES_KEPT:
                report.over_yield.append(YieldGap(**gap, units=actual - expected, recorded_as=status))
    added = {
        name: value
        for name, value, there in zip(LOSS_FIELDS, (status, loss_quantity, losses), present, strict=True)
        if not there
    }
    report.runs_transformed += 1
    return _with_loss_fields(run, added)


def _top_level(doc: dict[str, Any], kind: DocumentKind, runs: list[Any]) -> dict[str, Any]:
    """The transformed top level of ``doc``, holding ``runs`` as its ``production_runs``."""
    new_doc: dict[str, Any] = {}
    if kind.is_history and "version" not in doc:
        new_doc["version"] = "1.1"
    for key, value in doc.items():
        if key == "production_runs":
            value = runs
        elif key == "version" and kind.is_history:
            value = "1.1"
        new_doc[key] = value
    return new_doc


def _transform_runs(doc: dict[str, Any], report: TransformReport) -> dict[str, Any]:
    """The transformed document; ``doc`` is not modified, unchanged values are shared with it."""
    new_runs = [_transform_run(run, position, report) for position, run in enumerate(doc["production_runs"])]
    report.runs_total = len(new_runs)
    return _top_level(doc, report.kind, new_runs)


def transform_document(
    doc: Any, *, infer_losses: bool = False
) -> tuple[dict[str, Any], TransformReport]:
    """Validate ``doc`` and transform it; the result shares unchanged values with ``doc``.

    Use `transform_v1_0_to_v1_1` for an independent copy.

    Raises:
        InvalidDocument: ``doc`` is not a known kind or fails its JSON Schema.
    """
    kind = validate_document(doc)
    report = TransformReport(kind=kind, infer_losses=infer_losses)
    return _transform_runs(doc, report), report


def transform_v1_0_to_v1_1(doc: Any, *, infer_losses: bool = False) -> dict[str, Any]:
    """Return a v1.1 copy of a production-history export (v1.0 or v1.1) or of a full backup.

    ``doc`` is never modified. Every production run gains ``production_status: "complete"``,
    ``loss_quantity: 0`` and ``losses: []`` where absent; ``version`` becomes ``"1.1"`` (a full
    backup keeps its version). Running it on its own output gives an equal document.
    With ``infer_losses`` a shortfall (actual < expected yield) is recorded as a loss instead.

    Raises:
        InvalidDocument: ``doc`` is not a known kind or fails its JSON Schema.
    """
    try:
        independent = copy.deepcopy(doc)
    except RecursionError:
        raise InvalidDocument("the document is nested too deeply") from None
    return transform_document(independent, infer_losses=infer_losses)[0]


def transform_report(doc: Any, *, infer_losses: bool = False) -> TransformReport:
    """What `transform_v1_0_to_v1_1` would do to ``doc`` (nothing is changed or written)."""
    return transform_document(doc, infer_losses=infer_losses)[1]


def file_report(path: str | os.PathLike[str], *, infer_losses: bool | None = False) -> TransformReport:
    """What `transform` would report for the JSON file ``path`` (nothing is written).

    A production-history export is read one run at a time, so memory stays flat whatever its size;
    any other document is read whole.

    Raises:
        InvalidDocument: not JSON, or not a known kind of document.
    """
    with RunStream(path) as stream:
        if stream.streamable:
            kind = detect_kind({**stream.head, RUNS_KEY: []})
            if kind.is_history:
                report = TransformReport(kind=kind, infer_losses=infer_losses)
                for index, run in enumerate(stream.runs()):
                    _transform_run(run, index, report)
                    report.runs_total += 1
                if not stream.tail:  # keys after the runs may change the kind: the whole document decides
                    return report
    return transform_report(load_document(Path(path))[0], infer_losses=infer_losses)


def counted_runs(report: TransformReport) -> dict[str, Any]:
    """What ``report`` counted of the runs, as JSON values (for `add_following`)."""
    counted: dict[str, Any] = {name: getattr(report, name) for name in ("runs_total", *_COUNTERS)}
    counted["shortfalls"] = [asdict(gap) for gap in report.shortfalls]
    counted["over_yield"] = [asdict(gap) for gap in report.over_yield]
    return counted


def add_following(report: TransformReport, counted: dict[str, Any]) -> None:
    """Count in ``report`` the runs that follow its own in the same document (``counted``: `counted_runs`
    of their report)."""
    report.runs_total = counted["runs_total"]
    for name in _COUNTERS:
        setattr(report, name, getattr(report, name) + counted[name])
    report.shortfalls = (report.shortfalls + [YieldGap(**gap) for gap in counted["shortfalls"]])[:EXAMPLES_KEPT]
    report.over_yield = (report.over_yield + [YieldGap(**gap) for gap in counted["over_yield"]])[:EXAMPLES_KEPT]


class StreamedTransform:
    """The v1.1 form of a production-history export, written run by run as the export's runs pass.

    For an export in the app's style (``indent=2``, UTF-8, final newline) whose top level is
    ``top`` and whose runs are given to `add`, the bytes written to ``fh`` are those
    `transform` writes for it: an export can be transformed in the pass that writes it.
    The runs are trusted to be valid (they come from the database, not from a file).

    Raises:
        InvalidDocument: ``top`` is not the top level of a production-history export.
    """

    def __init__(
        self, fh: BinaryIO, top: dict[str, Any], *, infer_losses: bool = False, numbers_checked: bool = False,
        following: int = 0,
    ) -> None:
        kind = detect_kind({**top, RUNS_KEY: []})
        if not kind.is_history:
            raise InvalidDocument(f"a {kind.value} is not transformed run by run")
        self.report = TransformReport(kind=kind, infer_losses=infer_losses)
        if following:  # the runs after ``following`` others, to be appended to their transform (`append`)
            self._writer = RunsWriter.following(fh, following, numbers_checked=numbers_checked)
            self.report.runs_total = following
        else:
            self._writer = RunsWriter(fh, _top_level(top, kind, []), numbers_checked=numbers_checked)

    def add(self, run: dict[str, Any]) -> None:
        """Transform ``run`` (the next one of the export) and write it."""
        self._writer.write(_transform_run(run, self.report.runs_total, self.report))
        self.report.runs_total += 1

    def append(self, piece: Path, count: int, counted: dict[str, Any]) -> None:
        """Append the ``count`` transformed runs the file ``piece`` holds, written (and counted:
        ``counted``, `counted_runs` of its report) by a transform `following` this one's runs."""
        self._writer.append(piece, count)
        add_following(self.report, counted)

    def finish(self) -> TransformReport:
        """End the document; the report of what was transformed."""
        self._writer.close()
        return self.report


# --------------------------------------------------------------------------------------------
# Files


def transform(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    infer_losses: bool = False,
    force: bool = False,
) -> TransformReport:
    """Transform the JSON file ``input`` and write the result to ``output``, atomically.

    The output is written as ``json.dump(indent=2)`` would write it, in the input's own style
    (non-ASCII escaped or not, final newline or not), so a diff shows only the added fields.
    A production-history export is read and written one run at a time, so memory stays flat
    whatever its size; a full backup is read whole.

    Raises:
        MigrationError: a bad input or output (one line naming the file); nothing is written.
    """
    started = time.perf_counter()
    source, target = Path(input), Path(output)
    if not source.exists():
        raise InvalidDocument(f"{source}: file not found")
    if same_file(source, target):
        raise MigrationError(f"{target}: OUTPUT is the same file as INPUT; choose another name")
    refuse_output_over(target, [app_database()])
    try:
        with atomic_writer(target, force=force, mode="wb") as fh, gc_paused():
            report = _transform_stream(source, fh, infer_losses=infer_losses)
            if report is None:  # not a stream of runs: read the document whole
                fh.seek(0)
                fh.truncate()
                report = _transform_whole(source, fh, infer_losses=infer_losses)
    except OSError as exc:
        raise MigrationError(f"{target}: cannot write ({exc.strerror or exc})") from None
    report.input, report.output = source, target
    report.bytes_read = source.stat().st_size
    report.seconds = time.perf_counter() - started
    return report


def _transform_whole(source: Path, fh: BinaryIO, *, infer_losses: bool) -> TransformReport:
    """Read ``source`` whole, transform it and write it to ``fh``."""
    doc, style = load_document(source)
    try:
        new_doc, report = transform_document(doc, infer_losses=infer_losses)
        data = encode_document(
            new_doc,
            ascii_only=style.ascii_only,
            trailing_newline=style.trailing_newline,
            numbers_checked=style.numbers_checked,  # the transform adds no float
        )
    except InvalidDocument as exc:
        raise InvalidDocument(f"{source}: {exc}") from None
    fh.write(data)
    return report


def _transform_stream(source: Path, fh: BinaryIO, *, infer_losses: bool) -> TransformReport | None:
    """Transform a production-history export run by run, writing each run to ``fh`` as it comes.

    Returns None, having written nothing worth keeping, when the file must be read whole: it is
    not an object with a ``production_runs`` list, it is a full backup, or top-level keys follow
    the runs. Errors are raised in the order `_transform_whole` raises them: the JSON text,
    then every schema problem, then the first run that cannot be transformed, then the first
    text that cannot be written.
    """
    stream = RunStream(source)
    with stream:
        if not stream.streamable:
            return None
        top = {**stream.head, RUNS_KEY: []}
        try:
            kind = detect_kind(top)
        except InvalidDocument as exc:
            for _ in stream.runs():  # a JSON error further on is the one to report
                pass
            if stream.tail:
                return None
            raise InvalidDocument(f"{source}: {exc}") from None
        if not kind.is_history:
            return None
        style = FileStyle.of_file(source)
        report = TransformReport(kind=kind, infer_losses=infer_losses)
        problems = find_problems(top, kind)
        transform_error: InvalidDocument | None = None
        write_error: InvalidDocument | None = None
        try:
            before, after = encode_around_runs(
                _top_level(top, kind, []), ascii_only=style.ascii_only, trailing_newline=style.trailing_newline
            )
            fh.write(before)
        except InvalidDocument as exc:
            write_error = exc
        for index, run in enumerate(stream.runs()):
            report.runs_total += 1
            found = run_problems(kind, run, index)
            if found:
                problems.note(found)
            if problems.total or transform_error:
                continue
            try:
                new_run = _transform_run(run, index, report)
            except InvalidDocument as exc:
                transform_error = exc
                continue
            if write_error:
                continue
            try:
                piece = encode_run(new_run, index, ascii_only=style.ascii_only)
            except InvalidDocument as exc:
                write_error = exc
                continue
            fh.write(b",\n" if index else b"\n")
            fh.write(piece)
    if stream.tail:  # keys after the runs may change the kind: the whole document decides (rare)
        return None
    first_error = transform_error or write_error
    problems.refuse(kind, source)
    if first_error:
        raise InvalidDocument(f"{source}: {first_error}") from None
    fh.write(b"\n  ]" if report.runs_total else b"]")
    fh.write(after)
    return report
