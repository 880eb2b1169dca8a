"""Charts of a verification, drawn with matplotlib for the guided notebook.

Each function takes one of :class:`~bakemigrate.verify.VerifyResult`'s tables and returns a
:class:`matplotlib.figure.Figure` (no global pyplot state, so a chart never leaks into the next cell).
:func:`png` turns a figure into PNG bytes for places that want an image rather than a figure.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: The production statuses of bake-tracker v0.7, in the order the app lists them.
STATUSES = ("complete", "partial_loss", "total_loss")
_BEFORE, _AFTER = "#b08968", "#4a7c59"
_STATUS_COLOURS = {"complete": "#4a7c59", "partial_loss": "#e9a23b", "total_loss": "#b5453a"}


def rows_per_table(summary: pd.DataFrame, *, include_empty: bool = False) -> Figure:
    """Rows before and after the migration, per table, as paired horizontal bars.

    ``summary`` is :attr:`VerifyResult.summary` (columns ``table``, ``before``, ``after``). Tables
    with no rows on either side are left out unless ``include_empty``.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    frame = summary[["table", "before", "after"]].copy()
    frame[["before", "after"]] = frame[["before", "after"]].apply(pd.to_numeric, errors="coerce").fillna(0)
    if not include_empty:
        frame = frame[(frame["before"] > 0) | (frame["after"] > 0)]
    frame = frame.sort_values("table", ascending=False).reset_index(drop=True)
    height = 0.38
    fig = Figure(figsize=(8, 0.34 * max(len(frame), 3) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    positions = range(len(frame))
    ax.barh([p + height / 2 for p in positions], frame["before"], height, label="before", color=_BEFORE)
    ax.barh([p - height / 2 for p in positions], frame["after"], height, label="after", color=_AFTER)
    ax.set_yticks(list(positions), frame["table"].tolist(), fontsize=8)
    ax.set_xlabel("rows")
    ax.set_title("Rows per table, before and after the migration")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def status_mix(mix: pd.DataFrame) -> Figure:
    """Production runs per status after the migration, with the units recorded as lost.

    ``mix`` is :attr:`VerifyResult.status_mix` (columns ``production_status``, ``runs``,
    ``units_lost``). Every status of v0.7 is shown, including those with no run.
    """
    from matplotlib.figure import Figure

    counts = mix.set_index("production_status")
    statuses = list(STATUSES) + [s for s in counts.index if s not in STATUSES]
    runs = [int(counts["runs"].get(s, 0)) for s in statuses]
    lost = [int(counts["units_lost"].get(s, 0)) for s in statuses]
    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(statuses, runs, color=[_STATUS_COLOURS.get(s, "#888888") for s in statuses])
    ax.bar_label(bars, labels=[f"{r:,} runs\n{u:,} lost" for r, u in zip(runs, lost, strict=True)], fontsize=8)
    ax.set_ylabel("production runs")
    ax.set_title("Status of the production runs after the migration")
    ax.set_ylim(0, max(runs + [1]) * 1.25)
    ax.grid(axis="y", alpha=0.3)
    return fig


def png(fig: Figure, *, dpi: int = 96) -> bytes:
    """The figure as PNG bytes (no software version or date inside, so the bytes are reproducible)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
