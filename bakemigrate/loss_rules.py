"""The status and the loss bake-tracker 0.7 records for a production run, in one place.

bake-tracker 0.7's `record_batch_production` decides a run's status and its loss row like this,
and [v07_loss][bakemigrate.loss_rules.v07_loss] follows it exactly:

- `loss_quantity = expected_yield - actual_yield`; the status is `complete` when that is 0,
  `total_loss` when `actual_yield` is 0, else `partial_loss`. (0.7 refuses a run that made more
  than expected; an old run that did stays `complete` with a loss of 0.)
- `per_unit_cost = total_ingredient_cost / actual_yield`, an exact `Decimal` (Python's default
  context: 28 significant digits), when `actual_yield > 0`; else `Decimal("0.0000")`.
  `total_ingredient_cost` is the run's own value as the app reads it (4 decimals).
- one loss row when `loss_quantity > 0`: category `other`, the run's `finished_unit_id`, that
  `loss_quantity`, that exact `per_unit_cost` and `total_loss_cost = loss_quantity * per_unit_cost`,
  also exact. Only the `NUMERIC(10,4)` column rounds them when they are stored: the app binds a
  `Decimal` as a float and reads `Decimal("%.4f" % value)` back
  ([as_app_reads][bakemigrate.loss_rules.as_app_reads]).

A total loss is therefore valued at 0.0000, whatever its ingredients cost: that cost stays on the
run (`total_ingredient_cost`) and is not counted as loss value.

The transform (`--infer-losses`) and the verification both call these functions, so the rules
live here alone; anything else that applies or checks them should call them too.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from .values import db_number_to_text

COMPLETE, PARTIAL_LOSS, TOTAL_LOSS = "complete", "partial_loss", "total_loss"
INFERRED_LOSS_CATEGORY = "other"
INFERRED_LOSS_NOTE = (
    "Inferred during migration to v0.7: the run made {actual} of {expected} expected items; "
    "the {missing} missing item(s) are recorded as a loss."
)
"""The note on every loss the migration infers (`str.format` with actual, expected, missing)."""
ZERO_COST = Decimal("0.0000")
COST_SCALE = 4
APP_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
"""Python's default decimal context, the one the app computes in (whatever the caller's is)."""


def as_app_reads(value: Decimal | float | int | str, scale: int = COST_SCALE) -> Decimal:
    """A `NUMERIC(p, scale)` value as the app reads it back once stored: `Decimal("%.4f" % float)`.

    `value` is what the app would store (an exact `Decimal`) or what is stored (the REAL or
    INTEGER SQLite holds, or the text of either).
    """
    return Decimal(db_number_to_text(float(value), scale))


def inferred_loss_note(expected_yield: int, actual_yield: int) -> str:
    """The note of the loss inferred for a run that made `actual_yield` of `expected_yield` items."""
    return INFERRED_LOSS_NOTE.format(
        actual=actual_yield, expected=expected_yield, missing=expected_yield - actual_yield
    )


@dataclass(frozen=True)
class V07Loss:
    """What bake-tracker 0.7 records for one run: its status, its loss and the loss row's costs."""

    production_status: str
    loss_quantity: int
    per_unit_cost: Decimal
    """Exact, as the app computes it (`Decimal("0.0000")` when nothing was made)."""
    total_loss_cost: Decimal
    """Exact: `loss_quantity * per_unit_cost`."""

    @property
    def has_loss_row(self) -> bool:
        """True when the app records one `production_losses` row for the run."""
        return self.loss_quantity > 0

    @property
    def stored_per_unit_cost(self) -> Decimal:
        """The loss row's `per_unit_cost` as the app reads it back (4 decimals)."""
        return as_app_reads(self.per_unit_cost)

    @property
    def stored_total_loss_cost(self) -> Decimal:
        """The loss row's `total_loss_cost` as the app reads it back (4 decimals)."""
        return as_app_reads(self.total_loss_cost)


def v07_loss(
    expected_yield: int, actual_yield: int, total_ingredient_cost: Decimal | float | int | str
) -> V07Loss:
    """The status and loss bake-tracker 0.7 records for a run (see the module's rules).

    `total_ingredient_cost` may be the stored value (REAL/INTEGER, unrounded as 0.6 leaves it),
    an export's 4-decimal text or a `Decimal`: it is first read as the app reads it (4 decimals).
    A run that made as many items as expected, or more, is `complete` with no loss.
    """
    if type(expected_yield) is not int or type(actual_yield) is not int:
        raise TypeError("expected_yield and actual_yield must be integers")
    missing = max(expected_yield - actual_yield, 0)
    if actual_yield > 0:
        per_unit = APP_CONTEXT.divide(as_app_reads(total_ingredient_cost), Decimal(actual_yield))
    else:
        per_unit = ZERO_COST
    status = COMPLETE if missing == 0 else TOTAL_LOSS if actual_yield == 0 else PARTIAL_LOSS
    return V07Loss(
        production_status=status,
        loss_quantity=missing,
        per_unit_cost=per_unit,
        total_loss_cost=APP_CONTEXT.multiply(Decimal(missing), per_unit),
    )


def recorded_loss_problems(run: dict[str, Any]) -> list[str]:
    """What in a v1.1 run's status, loss and loss rows breaks bake-tracker 0.7's rules (empty: none).

    `run` is a run of a production-history document that passed its JSON Schema. The rules: the
    loss rows add up to `loss_quantity`; a loss is `expected_yield - actual_yield` (so never more than
    `expected_yield`), or 0 for a run kept as `complete`; the status is the one
    [v07_loss][bakemigrate.loss_rules.v07_loss] gives for that loss (`complete` has no loss row, a
    `total_loss` made nothing); each loss row's `per_unit_cost` and `total_loss_cost` are the
    rule's, as the app reads them back (4 decimals).
    """
    status = run.get("production_status", COMPLETE)
    loss = run.get("loss_quantity", 0)
    rows = run.get("losses", [])
    expected, actual = run["expected_yield"], run["actual_yield"]
    problems = []
    in_rows = sum(row["loss_quantity"] for row in rows)
    if in_rows != loss:
        problems.append(f"its {len(rows)} loss rows add up to {in_rows} items, not to its loss_quantity {loss}")
    if loss > expected:
        problems.append(f"loss_quantity {loss} is more than expected_yield {expected}")
    elif loss and loss != expected - actual:
        problems.append(f"loss_quantity {loss} is not expected_yield - actual_yield ({expected} - {actual})")
    want = COMPLETE if loss == 0 else TOTAL_LOSS if actual == 0 else PARTIAL_LOSS
    if status != want:
        problems.append(f"production_status {status!r} with loss_quantity {loss} and actual_yield {actual} "
                        f"(0.7 records {want!r})")
    try:
        per_unit = v07_loss(expected, actual, run["total_ingredient_cost"]).per_unit_cost
    except (TypeError, ValueError, ArithmeticError):  # a cost that is no number is named by the import
        return problems
    for j, row in enumerate(rows):
        want_unit = as_app_reads(per_unit)
        want_total = as_app_reads(APP_CONTEXT.multiply(Decimal(row["loss_quantity"]), per_unit))
        for key, wanted, what in (
            ("per_unit_cost", want_unit, "total_ingredient_cost / actual_yield"),
            ("total_loss_cost", want_total, "loss_quantity × the per-unit cost"),
        ):
            try:
                got = Decimal(row[key])
            except (TypeError, ValueError, ArithmeticError):
                continue  # named by the import
            if got != wanted:
                problems.append(f"losses[{j}].{key} {row[key]} is not {what} as 0.7 computes it ({wanted})")
    return problems


def total_loss_note(count: int) -> str:
    """Plain words on `count` total losses: bake-tracker 0.7 values a total loss at 0.0000."""
    if count == 1:
        return ("1 run made nothing: a total loss, valued at 0.0000 as bake-tracker 0.7 values it; "
                "its ingredient cost stays on the run and is not counted as loss value")
    return (f"{count} runs made nothing: total losses, valued at 0.0000 as bake-tracker 0.7 values them; "
            "their ingredient cost stays on the runs and is not counted as loss value")


def shortfall_summary(runs: int, items: int, made_nothing: int, *, infer_losses: bool) -> str:
    """A sentence on the `runs` that made `items` fewer than expected, `made_nothing` of them none."""
    if not runs:
        return "No run made fewer items than expected."
    text = f"{runs} run{'s' if runs != 1 else ''} made fewer items than expected ({items} items)"
    if not infer_losses:
        return f"{text}: kept as complete with a loss of 0, as the app's own migration does."
    partial = runs - made_nothing
    text += f": recorded as losses, {partial} partial and {made_nothing} total"
    if made_nothing:
        text += f". {total_loss_note(made_nothing)}"
    return f"{text}."


# --------------------------------------------------------------------------------------------
# The proof that a v0.7 database follows the rules

# Every statement is fixed text; whether losses were inferred is a bound parameter (1 or 0).
_SHORTFALL_ROWS = """
SELECT r.uuid, r.expected_yield, r.actual_yield, r.total_ingredient_cost, r.finished_unit_id,
       r.production_status, r.loss_quantity,
       l.uuid, l.finished_unit_id, l.loss_category, l.loss_quantity, l.per_unit_cost, l.total_loss_cost, l.notes
FROM production_runs AS r LEFT JOIN production_losses AS l ON l.production_run_id = r.id
WHERE r.actual_yield < r.expected_yield
ORDER BY r.id, l.id
"""
_OTHER_RUNS = "FROM production_runs AS r WHERE NOT (? AND r.actual_yield < r.expected_yield)"
_COUNT_OTHER_RUNS = f"SELECT count(*) {_OTHER_RUNS}"
_WRONG_OTHER_RUNS = (f"SELECT r.uuid, r.production_status, r.loss_quantity {_OTHER_RUNS} "
                     "AND (r.production_status IS NOT 'complete' OR r.loss_quantity IS NOT 0)")
_STRAY_LOSSES = """
SELECT l.uuid FROM production_losses AS l LEFT JOIN production_runs AS r ON r.id = l.production_run_id
WHERE NOT (? AND r.id IS NOT NULL AND r.actual_yield < r.expected_yield)
"""
RULE_FIELDS = (
    ("production_runs", "production_status"),
    ("production_runs", "loss_quantity"),
    ("production_losses", "loss rows"),
    ("production_losses", "loss_category"),
    ("production_losses", "finished_unit_id"),
    ("production_losses", "loss_quantity"),
    ("production_losses", "per_unit_cost"),
    ("production_losses", "total_loss_cost"),
    ("production_losses", "notes"),
)
"""The fields [check_database][bakemigrate.loss_rules.check_database] compares, as (table, column)."""
_STATUS, _QUANTITY, _ROWS = RULE_FIELDS[:3]


@dataclass
class RuleCheck:
    """How the runs and loss rows of a v0.7 database compare with the rules, field by field."""

    infer_losses: bool
    limit: int = 1000
    runs: int = 0
    shortfall_runs: int = 0
    total_losses: int = 0
    """Shortfall runs that made nothing (valued at 0.0000 by the rules)."""
    loss_rows_expected: int = 0
    compared: dict[tuple[str, str], int] = field(default_factory=lambda: dict.fromkeys(RULE_FIELDS, 0))
    different: dict[tuple[str, str], int] = field(default_factory=lambda: dict.fromkeys(RULE_FIELDS, 0))
    mismatches: list[tuple[str, str, object, object, object]] = field(default_factory=list)
    """The first `limit` differences: `(table, column, uuid, value the rules give, value found)`;
    the uuid is the run's (a loss row's own when the row belongs to no run that should have one)."""

    @property
    def differences(self) -> int:
        """Values that differ from the rules, over every field."""
        return sum(self.different.values())

    def differ(self, column: tuple[str, str], key: object, want: object, got: object) -> None:
        """Count one value that differs from the rules (it was counted as compared already)."""
        self.different[column] += 1
        if len(self.mismatches) < self.limit:
            self.mismatches.append((*column, key, want, got))

    def note(self, column: tuple[str, str], key: object, want: object, got: object) -> None:
        """Count one value compared with the rules."""
        self.compared[column] += 1
        if want != got:
            self.differ(column, key, want, got)

    def detail(self) -> str:
        """One line for the verification's check table."""
        if not self.infer_losses:
            if not self.differences:
                return "every run complete with 0 losses"
            return f"{self.differences} values differ from complete with 0 losses"
        text = (f"{self.shortfall_runs} shortfalls as 0.7 records them: "
                f"{sum(self.compared.values()):,} values compared, {self.differences} differ")
        if self.total_losses:
            text += f"; {self.total_losses} total losses at 0.0000, their cost stays on the run"
        return text


def check_database(conn: sqlite3.Connection, *, infer_losses: bool, limit: int = 1000) -> RuleCheck:
    """Compare every run and loss row of the v0.7 database `conn` with the migration's rules.

    With `infer_losses`, each run that made fewer items than expected must carry the status and
    `loss_quantity` [v07_loss][bakemigrate.loss_rules.v07_loss] gives, and exactly one loss row
    with category `other`, the run's `finished_unit_id`, that `loss_quantity`, the rule's
    `per_unit_cost` and `total_loss_cost` as the app reads them back, and the inferred-loss note.
    Every other run (every run, without `infer_losses`) must be `complete` with a loss of 0 and
    no loss row. Up to `limit` differing values are kept in `mismatches`.
    """
    check = RuleCheck(infer_losses=infer_losses, limit=limit)
    inferred = (int(infer_losses),)
    count, = conn.execute(_COUNT_OTHER_RUNS, inferred).fetchone()
    check.runs = count
    check.compared[_STATUS] += count
    check.compared[_QUANTITY] += count
    for key, status, quantity in conn.execute(_WRONG_OTHER_RUNS, inferred):
        if status != COMPLETE:
            check.differ(_STATUS, key, COMPLETE, status)
        if quantity != 0:
            check.differ(_QUANTITY, key, 0, quantity)
    for (key,) in conn.execute(_STRAY_LOSSES, inferred):
        check.note(_ROWS, key, "no loss row", "a loss row")
    if infer_losses:
        _check_shortfalls(conn, check)
    return check


def _check_shortfalls(conn: sqlite3.Connection, check: RuleCheck) -> None:
    """Each shortfall run and its loss rows against the rules, field by field."""
    rows_of_run: dict[object, int] = {}
    for row in conn.execute(_SHORTFALL_ROWS):
        key, expected, actual, total, unit_id, status, quantity, loss_uuid = row[:8]
        first = key not in rows_of_run
        rows_of_run[key] = rows_of_run.get(key, 0) + (loss_uuid is not None)
        try:
            rule = v07_loss(expected, actual, total)
        except (TypeError, ValueError, ArithmeticError):  # not whole yields, or a cost that is no number
            if first:
                check.note(_STATUS, key, "whole yields and a cost", (expected, actual, total))
            continue
        if first:
            check.shortfall_runs += 1
            check.total_losses += actual == 0
            check.loss_rows_expected += 1
            check.note(_STATUS, key, rule.production_status, status)
            check.note(_QUANTITY, key, rule.loss_quantity, quantity)
        if loss_uuid is None:
            continue
        want = (INFERRED_LOSS_CATEGORY, unit_id, rule.loss_quantity, rule.stored_per_unit_cost,
                rule.stored_total_loss_cost, inferred_loss_note(expected, actual))
        l_unit, category, l_quantity, per_unit, total_loss, notes = row[8:]
        got = (category, l_unit, l_quantity, _read_cost(per_unit), _read_cost(total_loss), notes)
        for name, w, g in zip(RULE_FIELDS[3:], want, got, strict=True):
            check.note(name, key, w, g)
    for key, rows in rows_of_run.items():
        check.note(_ROWS, key, 1, rows)


def _read_cost(value: object) -> object:
    """A stored cost as the app reads it (the stored value itself when it is not a number)."""
    if type(value) in (int, float):
        return as_app_reads(value)  # type: ignore[arg-type]
    return value
