"""The steps of a migration, in order: one registry that the dry run, the notebook and the command line read.

Each [Step][bakemigrate.steps.Step] says what it is called (the same word in the journal, the
dry-run plan, the notebook's cells and the command line), the label a person reads, what it needs
and what it produces in the work folder, the [Migration][bakemigrate.Migration] method that runs
it and the package function that does the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """One step of the migration."""

    number: int
    """Its place in the order a person reads (0 for the preflight)."""
    name: str
    """The step's word: its journal record, its notebook cell, its command (`bakemigrate import`)."""
    needs: tuple[str, ...]
    """What it reads: files of the work folder, or the database itself (`DB`)."""
    produces: tuple[str, ...]
    """What it writes: files of the work folder, or the database itself (`DB`)."""
    function: str
    """The package function that does the work, as `module:function`."""
    command: str | None
    """The command that runs it alone (`bakemigrate COMMAND`), or None."""
    after: tuple[str, ...] = ()
    """Steps whose journal record it needs besides the files it reads (the switch: the verify's verdict)."""
    keeps: tuple[str, ...] = ()
    """Files it reads whose SHA-256 its journal record holds (`read`, by file name): once done, its
    work is judged from what it read, and is kept when the step that made those files runs again."""

    @property
    def label(self) -> str:
        """The step as a person reads it, e.g. `5 · import`."""
        return f"{self.number} · {self.name}"

    @property
    def cell(self) -> str:
        """The id of its code cell in the guided notebook, e.g. `step-5-import`."""
        return f"step-{self.number}-{self.name}"

    @property
    def method(self) -> str:
        """The name of the [Migration][bakemigrate.Migration] method that runs it (`import_` for `import`)."""
        return f"{self.name}_" if self.name == "import" else self.name


STEPS: tuple[Step, ...] = (
    Step(number=0, name="preflight", needs=("DB",), produces=(),
         function="bakemigrate.db:inspect_database", command=None),
    Step(number=1, name="backup", needs=("DB",), produces=("backup/",),
         function="bakemigrate.backup:backup", command="backup"),
    Step(number=2, name="export", needs=("backup/",), produces=("export_v1.0.json",),
         function="bakemigrate.exporter:export", command="export"),
    Step(number=3, name="transform", needs=("export_v1.0.json",), produces=("export_v1.1.json",),
         function="bakemigrate.transform:transform", command="transform"),
    Step(number=4, name="reset", needs=("backup/",), produces=("staging.db",),
         function="bakemigrate.reset:reset", command="reset"),
    Step(number=5, name="import", needs=("export_v1.1.json", "staging.db"), produces=("staging.db",),
         function="bakemigrate.importer:import_", command="import", keeps=("export_v1.1.json",)),
    Step(number=6, name="verify", needs=("backup/", "staging.db", "export_v1.0.json"), produces=(),
         function="bakemigrate.verify:verify", command="verify"),
    Step(number=7, name="switch", needs=("staging.db",), produces=("DB",),
         function="bakemigrate.switch:switch", command="switch", after=("verify",)),
    Step(number=8, name="rollback", needs=("backup/",), produces=("DB",),
         function="bakemigrate.rollback:rollback", command="rollback"),
)
"""Every step, in the order a person reads them; the rollback comes last, only when asked for."""

PLAN: tuple[Step, ...] = STEPS[1:8]
"""The steps `migrate` runs after the preflight, in order (what `--dry-run` shows)."""


def step(name: str) -> Step:
    """The step called `name`.

    Raises:
        KeyError: no step has that name.
    """
    for candidate in STEPS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def predecessors(name: str) -> tuple[str, ...]:
    """The steps of the plan that `name` needs done first, in order: for each thing it reads, the
    last step before it that produces it, and the steps it comes `after`."""
    later = step(name)
    earlier = PLAN[:PLAN.index(later)] if later in PLAN else ()
    needed = set(later.after)
    for need in later.needs:
        producers = [candidate.name for candidate in earlier if need in candidate.produces]
        if producers:
            needed.add(producers[-1])
    return tuple(candidate.name for candidate in earlier if candidate.name in needed)


def kept_by_record(name: str, earlier: str, record: dict[str, Any] | None) -> bool:
    """Whether the journal's `record` of step `name` holds the SHA-256 of every file it reads that
    step `earlier` makes, among those it `keeps`: its work then stands whether `earlier` is done or not."""
    later, made = step(name), step(earlier).produces
    read = (record or {}).get("read")
    files = [need for need in later.needs if need in made]
    return bool(files) and isinstance(read, dict) and all(
        need in later.keeps and isinstance(read.get(need), str) for need in files)


def everything_before(name: str) -> tuple[str, ...]:
    """Every step `name` needs done first, directly or through another step, in the plan's order."""
    needed: set[str] = set()
    waiting = list(predecessors(name))
    while waiting:
        current = waiting.pop()
        if current not in needed:
            needed.add(current)
            waiting.extend(predecessors(current))
    return tuple(candidate.name for candidate in PLAN if candidate.name in needed)
