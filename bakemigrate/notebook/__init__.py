"""The guided notebook: the guide its cells call, and a headless runner that keeps a record.

- `bakemigrate.notebook.guide`: inside the kernel, every code cell starts from `here`, which gives
  the `Guide` of the settings cell's database and work folder; a refusal stops the run with
  `NotebookStopped` (one sentence, no traceback).
- `bakemigrate.notebook.runner`: outside, `run_notebook` executes the notebook in a fresh kernel
  with the parameters injected and writes the executed notebook (and an HTML copy) as the record.
- `bakemigrate.notebook.contract`: what both sides and the notebook agree on (its file name, its
  parameters, the metadata key of the outcome).

The names of both modules are available from here too (`from bakemigrate.notebook import here`).
"""

from __future__ import annotations

from .contract import NOTEBOOK_NAME, OUTCOME_KEY, PARAMETERS
from .guide import (
    DEMO_FOLDER,
    DEMO_NAME,
    FROM_THE_TOP,
    NEEDS,
    STEPS,
    VERIFICATION_PARTS,
    VERIFICATION_RECORD,
    Guide,
    NotebookStopped,
    chart,
    demo_database_path,
    here,
    home_relative,
    mangled_path_problem,
    own_database_note,
    say,
    start,
    stop,
)
from .runner import (
    CELL_TIMEOUT,
    RECORD_INTRO,
    NotebookRun,
    as_record,
    html_record,
    inject_parameters,
    kernel_manager,
    notebook_path,
    run_notebook,
)

__all__ = [
    "CELL_TIMEOUT",
    "DEMO_FOLDER",
    "DEMO_NAME",
    "FROM_THE_TOP",
    "NEEDS",
    "NOTEBOOK_NAME",
    "OUTCOME_KEY",
    "PARAMETERS",
    "RECORD_INTRO",
    "STEPS",
    "VERIFICATION_PARTS",
    "VERIFICATION_RECORD",
    "Guide",
    "NotebookRun",
    "NotebookStopped",
    "as_record",
    "chart",
    "demo_database_path",
    "here",
    "home_relative",
    "html_record",
    "inject_parameters",
    "kernel_manager",
    "mangled_path_problem",
    "notebook_path",
    "own_database_note",
    "run_notebook",
    "say",
    "start",
    "stop",
]
