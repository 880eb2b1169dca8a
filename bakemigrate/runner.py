"""Which steps of the plan are done and which must run, and why: one answer for the run and the dry run.

`resolve` goes through the plan (`steps.PLAN`) in order. A step is done when the journal records
it, its file is the very one recorded (`WorkFolder.state`) and every step it needs
(`steps.predecessors`) is done, or made a file whose SHA-256 the step's own record holds
(`steps.kept_by_record`: the import is judged from the document it imported); otherwise it is to
run, with the reason when it is its own (its file is not there any more, or is not the one recorded).
`migrate` runs what this says, and `--dry-run` prints it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .steps import PLAN, Step, kept_by_record, predecessors
from .workfolder import WorkFolder

VERIFIED_AGAIN = "verified earlier; each run verifies again"
"""Why the dry run plans a verification that the journal already records (the run shows its tables)."""


@dataclass(frozen=True)
class Planned:
    """One step of the plan: done earlier (kept) or to run, and why."""

    step: Step
    done: bool
    record: dict[str, Any] | None
    """The journal's record of the step (None when there is none)."""
    why: str = ""
    """Why it runs, when the reason is its own ("" when it never ran, or a step it needs runs)."""

    def line(self) -> str:
        """The step as the dry run shows it, e.g. `reset: to run (staging.db is not there any more)`."""
        from .terminal import when

        if self.done:
            return f"{self.step.name}: done earlier ({when((self.record or {}).get('at'))}), kept"
        return f"{self.step.name}: to run ({self.why})" if self.why else f"{self.step.name}: to run"


def resolve(folder: WorkFolder, upto: str = PLAN[-1].name, *, again: Collection[str] = ()) -> dict[str, Planned]:
    """Each step of the plan up to `upto`, by name, in order: done earlier or to run, and why.

    The steps named in `again` run even when they are done (a run verifies every time). Reads the
    journal and the files; writes nothing.
    """
    planned: dict[str, Planned] = {}
    for step in PLAN:
        found = folder.state(step.name)
        needed_done = all(planned[name].done or (found.done and kept_by_record(step.name, name, found.record))
                          for name in predecessors(step.name))
        if found.done and needed_done and step.name not in again:
            planned[step.name] = Planned(step, True, found.record)
        else:
            why = found.why() if needed_done else ""
            if found.done and needed_done:
                why = VERIFIED_AGAIN
            planned[step.name] = Planned(step, False, found.record, why)
        if step.name == upto:
            break
    return planned
