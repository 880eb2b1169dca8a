"""Run the bakemigrate command line in a process that kills itself (SIGKILL) at a named point.

``python tests/crash_runner.py POINT ARGS...`` is ``python -m bakemigrate ARGS...`` except that the
process dies, with no chance to clean up, at ``POINT``: the narrow windows between writing a file
and recording it, which a timer rarely hits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bakemigrate.backup  # noqa: E402
import bakemigrate.exporter  # noqa: E402
import bakemigrate.importer  # noqa: E402
import bakemigrate.reset  # noqa: E402
import bakemigrate.switch  # noqa: E402
import bakemigrate.workfolder  # noqa: E402
from bakemigrate.cli import main  # noqa: E402


def die() -> None:
    """End the process the way a power cut or ``kill -9`` would."""
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _before(module, name: str, *, when: Callable[..., bool] = lambda *a, **k: True) -> None:
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        if when(*args, **kwargs):
            die()
        return original(*args, **kwargs)

    setattr(module, name, wrapper)


def _unjournaled(step: str) -> None:
    """Die when the journal is about to record ``step``: its work is done and on disk, not recorded."""
    _before(bakemigrate.workfolder.Journal, "record", when=lambda self, name, **facts: name == step)


def _after(module, name: str, *, when: Callable[..., bool] = lambda *a, **k: True) -> None:
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if when(*args, **kwargs):
            die()
        return result

    setattr(module, name, wrapper)


def _export_half_written() -> None:
    original = bakemigrate.exporter.iter_runs

    def runs(*args, **kwargs):
        for count, run in enumerate(original(*args, **kwargs)):
            if count == 100:
                die()
            yield run

    bakemigrate.exporter.iter_runs = runs


def _import_mid_transaction() -> None:
    @contextlib.contextmanager
    def bar(*args, **kwargs):
        yield lambda n: die()  # called once the first chunk is inserted, before the commit

    bakemigrate.importer.progress_bar = bar


CRASH_POINTS: dict[str, Callable[[], None]] = {
    "backup: copy made, not checked": lambda: _after(bakemigrate.backup, "copy_database"),
    "backup: manifest written, copy not renamed": lambda: _after(bakemigrate.backup, "write_json_atomic"),
    "export: document half written": _export_half_written,
    # the export writes both documents in one pass, then records the export and then the transform
    "export: both documents written, not journaled": lambda: _unjournaled("export"),
    "export: journaled, transform not journaled": lambda: _after(
        bakemigrate.workfolder.Journal, "record", when=lambda self, step, **facts: step == "export"
    ),
    "staging: copied, tables not recreated": lambda: _before(bakemigrate.reset, "create_v07_production_tables"),
    "staging: built, not journaled": lambda: _unjournaled("reset"),
    "import: first chunk inserted, not committed": _import_mid_transaction,
    "import: committed, not journaled": lambda: _unjournaled("import"),
    "verify: passed, not journaled": lambda: _unjournaled("verify"),
    "switch: checked, not renamed": lambda: _before(bakemigrate.switch, "remove_sidecar_files"),
    "switch: renamed, not journaled": lambda: _after(bakemigrate.switch, "replace_database"),
}


if __name__ == "__main__":
    CRASH_POINTS[sys.argv[1]]()
    sys.exit(main(sys.argv[2:]))
