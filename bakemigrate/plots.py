"""Charts of a verification, drawn with matplotlib for the guided notebook.

Each function takes one of `VerifyResult`'s tables and returns a
`matplotlib.figure.Figure` (no global pyplot state, so a chart never leaks into the next cell).
`png` turns a figure into PNG bytes for places that want an image rather than a figure.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

STATUSES = ("complete", "partial_loss", "total_loss")
"""The production statuses of bake-tracker v0.7, in the order the app lists them."""
STATUS_LABELS = {"complete": "Complete", "partial_loss": "Partial loss", "total_loss": "Total loss"}
"""The statuses as bake-tracker shows them."""
_BEFORE, _AFTER = "#c08a5a", "#4f9a6a"
_STATUS_COLOURS = {"complete": "#4f9a6a", "partial_loss": "#e9a23b", "total_loss": "#d0584a"}
_INK = "#8c8c8c"
"""Text and lines in a mid grey that reads on a light and on a dark page; the background is transparent."""
_THEME = {
    "text.color": _INK, "axes.labelcolor": _INK, "axes.edgecolor": _INK, "xtick.color": _INK,
    "ytick.color": _INK, "grid.color": _INK, "legend.frameon": False,
    "figure.facecolor": "none", "axes.facecolor": "none", "savefig.transparent": True,
}


def _figure(width: float, height: float) -> Figure:
    """A figure with one plot (drawn inside `_themed()` by its caller)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    fig.add_subplot()
    return fig


def _themed(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """`draw`, run with the light-and-dark colours of `_THEME` for every text and line it makes."""

    @functools.wraps(draw)
    def themed(*args: Any, **kwargs: Any) -> Figure:
        import matplotlib

        with matplotlib.rc_context(_THEME):
            return draw(*args, **kwargs)

    return themed


@_themed
def rows_per_table(summary: pd.DataFrame, *, include_empty: bool = False) -> Figure:
    """Rows before and after the migration as paired horizontal bars: the tables a baker knows, by
    the names the rows table uses, then every other table added up into one bar.

    ``summary`` is `VerifyResult.summary` (columns ``table``, ``before``, ``after``). A table that
    differs always gets its own bar. Tables with no rows on either side are left out unless
    ``include_empty``.
    """
    import pandas as pd

    from .readable import KNOWN_TABLES

    frame = summary[["table", "before", "after"]].copy()
    frame[["before", "after"]] = frame[["before", "after"]].apply(pd.to_numeric, errors="coerce").fillna(0)
    own = frame["table"].isin(KNOWN_TABLES) | (frame["before"] != frame["after"])
    order = {name: i for i, name in enumerate(KNOWN_TABLES)}
    shown = frame[own].assign(rank=frame["table"].map(lambda t: order.get(t, len(order))),
                              name=frame["table"].map(lambda t: KNOWN_TABLES.get(t, t)))
    shown = shown.sort_values(["rank", "table"])
    rest = frame[~own]
    if len(rest):
        other = {"name": f"{len(rest)} other tables", "before": rest["before"].sum(), "after": rest["after"].sum()}
        shown = pd.concat([shown, pd.DataFrame([other])], ignore_index=True)
    if not include_empty:
        shown = shown[(shown["before"] > 0) | (shown["after"] > 0)]
    shown = shown.iloc[::-1].reset_index(drop=True)  # barh draws from the bottom: the first row on top
    height = 0.38
    fig = _figure(8, 0.34 * max(len(shown), 3) + 1.2)
    ax = fig.axes[0]
    positions = range(len(shown))
    ax.barh([p + height / 2 for p in positions], shown["before"], height, label="before", color=_BEFORE)
    ax.barh([p - height / 2 for p in positions], shown["after"], height, label="after", color=_AFTER)
    ax.set_yticks(list(positions), shown["name"].tolist(), fontsize=8)
    ax.tick_params(colors=_INK)
    ax.set_xlabel("rows")
    ax.set_title("Rows per table, before and after the migration")
    ax.legend(loc="lower right", labelcolor=_INK)
    ax.grid(axis="x", alpha=0.3)
    return fig


def status_mix(mix: pd.DataFrame) -> Figure:
    """Production runs per status after the migration, with the units recorded as lost.

    ``mix`` is `VerifyResult.status_mix` (columns ``production_status``, ``runs``,
    ``units_lost``). Every status of v0.7 is shown, including those with no run.
    """
    counts = mix.set_index("production_status")
    statuses = list(STATUSES) + [s for s in counts.index if s not in STATUSES]
    runs = [int(counts["runs"].get(s, 0)) for s in statuses]
    lost = [int(counts["units_lost"].get(s, 0)) for s in statuses]
    fig = _figure(6, 3)
    ax = fig.axes[0]
    positions = list(range(len(statuses)))
    bars = ax.bar(positions, runs, color=[_STATUS_COLOURS.get(s, "#888888") for s in statuses])
    ax.set_xticks(positions, [STATUS_LABELS.get(s, s) for s in statuses])
    ax.bar_label(bars, labels=[f"{r:,} runs\n{u:,} lost" for r, u in zip(runs, lost, strict=True)], fontsize=8,
                 color=_INK)
    ax.tick_params(colors=_INK)
    ax.set_ylabel("production runs")
    ax.set_title("Status of the production runs after the migration")
    ax.set_ylim(0, max(runs + [1]) * 1.25)
    ax.grid(axis="y", alpha=0.3)
    return fig


def png(fig: Figure, *, dpi: int = 96) -> bytes:
    """The figure as PNG bytes (no software version or date inside, so the bytes are reproducible)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None}, transparent=True)
    return buffer.getvalue()
