"""Tables a person reads at a glance, for the guided notebook (pandas Styler, no index).

Every table is a [Readable][bakemigrate.readable.Readable]: a Styler with human column labels,
dates as `2025-12-09 17:02`, long ids shortened, `✓`/`✗` for checks, inside a box of the cell's
width that scrolls sideways when a table is wider (on a phone). The functions here turn the step
results of [Migration][bakemigrate.pipeline.Migration] into such tables; they read, never write.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

KNOWN_TABLES = {
    "production_runs": "Production runs",
    "production_consumptions": "Ingredients used by the runs",
    "production_losses": "Losses (new in 0.7)",
    "recipes": "Recipes",
    "ingredients": "Ingredients",
    "finished_units": "Finished goods",
    "events": "Events",
}
"""The tables a baker knows, in the order they are shown, with the name a baker uses."""
BOX_STYLE = "overflow-x:auto;max-width:100%;margin:0 0 0.6em 0"
CELL_STYLES = [
    {"selector": "th", "props": "text-align:left;padding:2px 10px;white-space:nowrap"},
    {"selector": "td", "props": "text-align:left;padding:2px 10px;white-space:nowrap"},
    {"selector": "caption", "props": "caption-side:top;text-align:left;font-weight:bold;padding:2px 0"},
]


class Readable:
    """A table for reading: its HTML is a Styler in a scrolling box; its text is plain columns."""

    def __init__(self, styler: Any, text: str, *, folded: Readable | None = None, summary: str = "") -> None:
        self.styler = styler
        self.text = text
        self.folded = folded
        self.summary = summary

    def _repr_html_(self) -> str:
        page = f'<div class="bakemigrate-table" style="{BOX_STYLE}">{self.styler.to_html()}</div>'
        if self.folded is not None:
            page += (f"<details><summary>{html.escape(self.summary)}</summary>"
                     f"{self.folded._repr_html_()}</details>")
        return page

    def __repr__(self) -> str:
        text = self.text
        if self.folded is not None:
            text += f"\n{self.summary}"
        return text


def when(value: Any) -> str:
    """An ISO date and time as `2025-12-09 17:02` (text that is not one is shown as it is)."""
    if value is None or value != value:  # None or NaN
        return ""
    text = str(value)
    if len(text) >= 16 and text[4] == "-" and text[10] in "T ":
        return f"{text[:10]} {text[11:16]}"
    return text


def short_id(value: Any, length: int = 8) -> str:
    """A long id (a UUID, a SHA-256) cut to its first characters, with an ellipsis."""
    text = "" if value is None else str(value)
    return text if len(text) <= length + 1 else f"{text[:length]}…"


def cost(value: Any) -> str:
    """A cost with 2 decimals, for reading (the stored value keeps every digit)."""
    try:
        return f"{float(value):,.2f}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


def tick(value: Any) -> str:
    """`✓` for a passed check, `✗` for a failed one."""
    return "✓" if bool(value) else "✗"


def count(value: Any) -> str:
    """A whole number with thousands separators."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as a person reads it: relative to the current folder when it is inside it."""
    candidate = Path(path)
    try:
        return str(candidate.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(candidate)


def readable(
    frame: pd.DataFrame,
    labels: Mapping[str, str],
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    *,
    caption: str = "",
    highlight: str | None = None,
) -> Readable:
    """``frame``'s columns named in ``labels`` (in that order), relabelled and formatted, no index.

    ``highlight`` names a boolean column whose False rows are shown in red.
    """
    formats = dict(formats or {})
    shown = frame[[c for c in labels if c in frame.columns]].reset_index(drop=True)
    text_frame = shown.copy()
    for column, fmt in formats.items():
        if column in text_frame.columns:
            text_frame[column] = text_frame[column].map(fmt)
    text = text_frame.rename(columns=labels).to_string(index=False) if len(shown) else "(none)"
    styler = shown.style.format({c: f for c, f in formats.items() if c in shown.columns})
    if highlight is not None and highlight in shown.columns:
        bad = ~shown[highlight].astype(bool)
        styler = styler.apply(lambda col: ["color:#c62828;font-weight:bold" if b else "" for b in bad], axis=0)
    styler = styler.relabel_index([labels[c] for c in shown.columns], axis="columns")
    styler = styler.hide(axis="index").set_table_styles(CELL_STYLES)
    if caption:
        styler = styler.set_caption(caption)
    return Readable(styler, text)


def facts(rows: Iterable[tuple[str, Any]]) -> Readable:
    """A two-column table of what a step did: one row per fact, its value as text."""
    import pandas as pd

    frame = pd.DataFrame([(label, str(value)) for label, value in rows], columns=["fact", "value"])
    return readable(frame, {"fact": "", "value": ""})


def checks(frame: pd.DataFrame) -> Readable:
    """The verification's checks: each with ✓ or ✗ and what was found."""
    return readable(frame, {"check": "Check", "passed": "Result", "detail": "What was found"},
                    {"passed": tick}, highlight="passed")


def rows_per_table(summary: pd.DataFrame) -> Readable:
    """Rows before and after per table: the tables a baker knows, the others folded into one line.

    A table whose rows differ is never folded away.
    """
    labels = {"name": "Table", "before": "Before", "after": "After", "equal": "Same"}
    formats = {"before": count, "after": count, "equal": tick}
    frame = summary.copy()
    known = frame["table"].isin(KNOWN_TABLES) | ~frame["equal"].astype(bool)
    order = {name: i for i, name in enumerate(KNOWN_TABLES)}
    main = frame[known].assign(
        name=lambda f: f["table"].map(lambda t: KNOWN_TABLES.get(t, t)),
        rank=lambda f: f["table"].map(lambda t: order.get(t, len(order))),
    ).sort_values(["rank", "table"])
    rest = frame[~known].assign(name=lambda f: f["table"]).sort_values("table")
    table = readable(main, labels, formats, highlight="equal")
    if len(rest):
        table.folded = readable(rest, labels, formats)
        table.summary = f"{len(rest)} other tables: all equal"
    return table


def fields(frame: pd.DataFrame) -> Readable:
    """The field-by-field comparison, with every count in full."""
    view = frame.assign(same=frame["different"] == 0)
    return readable(view, {"table": "Table", "column": "Field", "compared": "Values compared",
                           "equal": "Equal", "different": "Different", "same": "Same"},
                    {"compared": count, "equal": count, "different": count, "same": tick}, highlight="same")


def mismatches(frame: pd.DataFrame) -> Readable:
    """The values that differ, exactly as stored (nothing rounded)."""
    return readable(frame, {"table": "Table", "column": "Field", "key": "Row", "before": "Before", "after": "After"},
                    {"key": short_id})


def status_mix(frame: pd.DataFrame) -> Readable:
    """Production runs per status after the migration, with the units recorded as lost."""
    from .plots import STATUS_LABELS

    return readable(frame, {"production_status": "Status", "runs": "Production runs", "units_lost": "Units lost"},
                    {"production_status": lambda s: STATUS_LABELS.get(s, s), "runs": count, "units_lost": count})


def shortfalls(frame: pd.DataFrame) -> Readable:
    """The runs that made fewer items than expected, newest first."""
    view = frame.sort_values("produced_at", ascending=False) if "produced_at" in frame.columns else frame
    missing = "unaccounted" if "unaccounted" in frame.columns else "units"
    return readable(view, {"produced_at": "Baked", "recipe_name": "Recipe", "expected_yield": "Expected",
                           "actual_yield": "Made", missing: "Missing", "uuid": "Run"},
                    {"produced_at": when, "expected_yield": count, "actual_yield": count, missing: count,
                     "uuid": short_id})


def export_preview(runs: list[dict[str, Any]]) -> Readable:
    """The first production runs of an export document, one row each (ingredients counted)."""
    import pandas as pd

    rows = [{**{k: v for k, v in run.items() if not isinstance(v, (list, dict))},
             "consumptions": len(run.get("consumptions", []))} for run in runs]
    frame = pd.DataFrame(rows)
    return readable(frame, {"produced_at": "Baked", "recipe_name": "Recipe", "num_batches": "Batches",
                            "expected_yield": "Expected", "actual_yield": "Made",
                            "total_ingredient_cost": "Ingredient cost", "consumptions": "Ingredients"},
                    {"produced_at": when, "total_ingredient_cost": cost, "num_batches": count,
                     "expected_yield": count, "actual_yield": count})


def banner(passed: bool, sentence: str) -> str:
    """The verdict as a coloured box (green PASS, red FAIL), readable in light and dark themes."""
    colour = "#2e7d32" if passed else "#c62828"
    word = "PASS" if passed else "FAIL"
    return (f'<div class="bakemigrate-verdict" style="background:{colour};color:#fff;padding:10px 14px;'
            f'border-radius:6px;font-size:1.1em;margin:4px 0"><strong>Verdict: {word}.</strong> '
            f"{html.escape(sentence)}</div>")
