"""Progress bars for long steps (rich), silent when switched off or when there is nothing to show."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

Advance = Callable[[int], None]


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, *, enabled: bool = True) -> Iterator[Advance]:
    """Yield an ``advance(n)`` callback that moves a rich progress bar on stderr.

    The bar is drawn only when ``enabled`` and stderr is a terminal or a notebook, so logs and
    captured output stay clean; the callback is always safe to call.
    """
    interactive = enabled and (sys.stderr.isatty() or "ipykernel" in sys.modules)
    if not interactive:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
