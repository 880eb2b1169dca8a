"""What the command line shows a person: one short line per step, a compact verification, JSON.

Only the command line uses this module; the steps return result objects and know nothing of it.
Lines fit the terminal (80 columns when it cannot be measured): paths are shown relative to the
current folder (or with `~` for the home folder), numbers with thousands separators, and the
verification as one line per check with ✓ or ✗. The full tables go behind `--verbose` and into the
work folder's `report.txt`; `--json` prints one object instead of the text (see `json_report`).
"""

from __future__ import annotations

import json
import numbers
import os
import shutil
import textwrap
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

KEY_TABLES = {"production_runs": "production runs", "production_consumptions": "ingredients used",
              "production_losses": "losses"}
"""The production tables a person reads in the verification; the others are folded into one line."""
REPORT_TEXT = "report.txt"
REPORT_JSON = "report.json"


def width() -> int:
    """The terminal's width in columns (`COLUMNS` first; 80 when there is no terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


def shown(path: str | os.PathLike[str] | None, workdir: str | os.PathLike[str] | None = None) -> str:
    """`path` as a person reads it: inside `workdir` relative to it, else relative to the current
    folder, else with `~` for the home folder."""
    if path is None:
        return "-"
    absolute = Path(os.path.abspath(path))
    bases = [(Path(os.path.abspath(workdir)), "")] if workdir is not None else []
    bases += [(Path.cwd(), ""), (Path(os.path.expanduser("~")), "~")]
    for base, prefix in bases:
        try:
            rest = absolute.relative_to(base)
        except ValueError:
            continue
        return str(Path(prefix) / rest) if prefix else str(rest)
    return str(absolute)


def fit(text: str, columns: int | None = None) -> str:
    """`text` cut to the terminal's width with an ellipsis (a step line never wraps)."""
    columns = columns or width()
    return text if len(text) <= columns else text[: columns - 1] + "…"


def say(message: str, stream: Any) -> None:
    """Print a message a person reads (an `error:` or `declined:` line): on a terminal it wraps at
    word boundaries to the terminal's width, indented after the first line; to a file or a pipe it
    stays one line, so scripts and logs get it whole."""
    if stream.isatty() and len(message) > width():
        message = textwrap.fill(message, width(), subsequent_indent="  ", break_long_words=False,
                                break_on_hyphens=False)
    print(message, file=stream)


def when(stamp: str | None) -> str:
    """A journal time (ISO, UTC) as local `YYYY-MM-DD HH:MM`."""
    if not stamp:
        return "earlier"
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def step_line(step: str, result: Any, earlier: dict[str, Any] | None, workdir: str | os.PathLike[str]) -> str:
    """The one line of a step of `bakemigrate migrate`; `earlier` is its journal record when it was kept.

    Files in the work folder are named relative to it (the preflight's line says where it is).
    """
    if earlier is not None:
        return fit(f"{step}: done earlier ({when(earlier.get('at'))}), kept")
    text = _STEP_TEXT[step](result, workdir) if step in _STEP_TEXT else result.summary_line()
    return "\n".join(fit(line) for line in f"{step}: {text}".splitlines())


def _preflight(p: Any, w: Any) -> str:
    notes = "".join("\n" + textwrap.fill(note, width() - 1, initial_indent="  ", subsequent_indent="  ")
                    for note in p.notes())
    return (f"{shown(p.db)} is v{p.info.schema_version}, {p.info.runs:,} runs, "
            f"{p.info.size_bytes / 1e6:,.1f} MB{notes}\nwork folder: {shown(w)}")


def _backup(b: Any, w: Any) -> str:
    return f"{shown(b.path, w)}, integrity ok, {b.runs:,} runs, sha256 {b.sha256[:12]}…"


def _export(e: Any, w: Any) -> str:
    return f"{e.runs:,} runs, {e.consumptions:,} ingredients used → {shown(e.path, w)}"


def _transform(t: Any, w: Any) -> str:
    gaps = t.shortfall_count
    kept = f"{t.losses_recorded:,} recorded as losses" if t.infer_losses else "kept complete"
    short = f"; {gaps:,} made fewer than expected ({kept})" if gaps else ""
    return f"{t.runs_total:,} runs → 1.1{short}"


def _reset(r: Any, w: Any) -> str:
    return f"{shown(r.path, w)}: {r.kept_tables} tables copied, production tables v0.7"


def _import(i: Any, w: Any) -> str:
    return f"{i.runs:,} runs, {i.consumptions:,} ingredients used, {i.losses:,} losses → {shown(i.staging, w)}"


def _verify(v: Any, w: Any) -> str:
    return f"{v.verdict} ({len(v.rows('checks'))} checks)"


def _switch(s: Any, w: Any) -> str:
    return f"{shown(s.db)} is now the v0.7 database" if s.switched else f"not switched ({s.reason})"


_STEP_TEXT = {"preflight": _preflight, "backup": _backup, "export": _export, "transform": _transform,
              "reset": _reset, "import": _import, "verify": _verify, "switch": _switch}


def check_lines(result: Any) -> list[str]:
    """One line per verification check: ✓ or ✗, its name and its figure."""
    return [fit(f"  {'✓' if row['passed'] else '✗'} {row['check']}: {row['detail']}")
            for row in result.rows("checks")]


def table_lines(result: Any) -> list[str]:
    """The production tables a person knows, before and after, and one line for all the others."""
    lines = []
    summary = list(result.rows("summary"))
    others = [row for row in summary if row["table"] not in KEY_TABLES]
    by_table = {row["table"]: row for row in summary}
    for table, label in KEY_TABLES.items():
        row = by_table.get(table)
        if row is not None:
            mark = "✓" if row["equal"] else "✗"
            lines.append(f"  {mark} {label:<17} {row['before']:>10,} before {row['after']:>10,} after")
    unequal = [row for row in others if not row["equal"]]
    if unequal:
        lines += [f"  ✗ {row['table']}: {row['before']:,} before, {row['after']:,} after" for row in unequal]
    else:
        lines.append(f"  ✓ {len(others)} other tables: identical row for row")
    return [fit(line) for line in lines]


def verification_block(result: Any) -> list[str]:
    """The compact verification: the checks, the tables a person knows, the shortfalls in words."""
    lines = ["verification:", *check_lines(result), "tables:", *table_lines(result)]
    if result.shortfall_runs:
        lines += textwrap.wrap(result.shortfall_summary(), width() - 2, initial_indent="  ", subsequent_indent="  ")
    return lines


def final_line(result: Any, db: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> list[str]:
    """The last lines of a migrate: its message with the paths shortened, the `PASS:` line last."""
    message = result.message
    for path in sorted({os.path.abspath(workdir), str(workdir), os.path.abspath(db), str(db)}, key=len, reverse=True):
        message = message.replace(path, shown(path))
    head, sep, backup = message.partition("; backup in ")
    if sep and len(message) > width():
        return [f"backup in {backup}", head]
    return [message]


_TABLES = (("Rows per table", "summary"), ("Checks", "checks"), ("Fields compared", "fields"),
           ("Differences", "mismatches"), ("Statuses", "status_mix"))


def _tables(result: Any) -> Iterator[tuple[str, list[str], list[list[str]]]]:
    """Each table of the verification that has rows: its title, its headings and its cells as text."""
    for title, name in _TABLES:
        rows = result.rows(name)
        if len(rows):
            yield (title, [str(column).replace("_", " ") for column in rows.columns],
                   [[_cell(row[column]) for column in rows.columns] for row in rows])


def full_tables(result: Any, columns: int | None = None) -> str:
    """Every table of the verification (rows per table, checks, fields, mismatches) as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=columns or width(), record=True, file=open(os.devnull, "w"), color_system=None,
                      highlight=False)
    for title, headings, cells in _tables(result):
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        for heading in headings:
            table.add_column(heading, overflow="fold")
        for row in cells:
            table.add_row(*row)
        console.print(table)
        console.print()
    text = console.export_text()
    console.file.close()
    return text


def plain_tables(result: Any) -> str:
    """Every table of the verification as plain aligned text, for a file (nothing folded, any width)."""
    parts = []
    for title, headings, cells in _tables(result):
        widths = [max(len(line[i]) for line in (headings, *cells)) for i in range(len(headings))]
        # a column of counts is aligned to the right, like the terminal's tables
        counts = [all(row[i].replace(",", "").lstrip("-").isdigit() for row in cells) for i in range(len(headings))]

        def line(row: list[str], widths: list[int] = widths, counts: list[bool] = counts) -> str:
            return " │ ".join(cell.rjust(w) if count else cell.ljust(w)
                             for cell, w, count in zip(row, widths, counts, strict=True)).rstrip()

        rule = "─┼─".join("─" * w for w in widths)
        parts.append("\n".join([title, line(headings), rule, *(line(row) for row in cells)]) + "\n")
    return "\n".join(parts)


def _cell(value: Any) -> str:
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "✓" if value else "✗"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return str(value)


def rollback_lines(result: Any, workdir: str | os.PathLike[str]) -> list[str]:
    """What a rollback did, in short lines: the database restored, where the file as it was is kept."""
    if not result.restored:
        return [f"rollback: {shown(result.db)} already is the pre-migration database; nothing to do"]
    lines = [f"rolled back: {shown(result.db)} is the pre-migration database again",
             f"  (restored from {shown(result.backup, workdir)}, content proven equal)"]
    if result.kept:
        lines.append(f"kept the file as it was in the work folder: {shown(result.kept, workdir)}")
    return lines


def verification_dict(result: Any) -> dict[str, Any]:
    """The verification as plain values (for `--json` and `report.json`)."""
    return {
        "verdict": result.verdict,
        "checks": [{"check": r["check"], "passed": bool(r["passed"]), "detail": str(r["detail"])}
                   for r in result.rows("checks")],
        "tables": [{"table": r["table"], "before": _count(r["before"]), "after": _count(r["after"]),
                    "equal": bool(r["equal"])} for r in result.rows("summary")],
        "shortfalls": result.shortfall_runs,
        "values_compared": result.rows("fields").total("compared"),
    }


def _count(value: Any) -> int | None:
    """A row count as a plain number (None for a table that is not there)."""
    return None if value is None or value != value else int(value)  # NaN: a table missing from a DataFrame


def json_report(command: str, outcome: str, exit_code: int, message: str, **facts: Any) -> str:
    """The one JSON object a command prints with `--json`: what happened, its exit code, the facts."""
    document = {"command": command, "outcome": outcome, "exit_code": exit_code, "message": message, **facts}
    return json.dumps(document, ensure_ascii=False, default=str)


def write_reports(workdir: Path, json_text: str, verification: Any | None) -> list[Path]:
    """Keep the report of a migrate in the work folder (`report.json`, and `report.txt` with every table)."""
    from .jsonio import write_json_atomic

    written = []
    if not workdir.is_dir():
        return written
    write_json_atomic(workdir / REPORT_JSON, json.loads(json_text), force=True)
    written.append(workdir / REPORT_JSON)
    if verification is not None:
        from .jsonio import atomic_writer

        with atomic_writer(workdir / REPORT_TEXT, force=True) as fh:
            fh.write("\n".join(verification_block(verification)) + "\n\n" + plain_tables(verification))
        written.append(workdir / REPORT_TEXT)
    return written


def lines_of(items: Iterable[str]) -> str:
    """Lines joined for printing."""
    return "\n".join(items)
