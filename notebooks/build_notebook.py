"""Write the guided notebook ``migrate_v0.6_to_v0.7.ipynb`` (the source of truth is this script).

    python notebooks/build_notebook.py           # rewrite the notebook
    python notebooks/build_notebook.py --check   # exit 1 if the committed notebook differs

The notebook is written without outputs or execution counts; every cell has a stable id, which
``bakemigrate notebook`` uses to name the cell where a run stopped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from bakemigrate.steps import step

NOTEBOOK = Path(__file__).resolve().parent / "migrate_v0.6_to_v0.7.ipynb"


def md(cell_id: str, text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"), id=cell_id)


def code(cell_id: str, text: str, *tags: str) -> nbformat.NotebookNode:
    cell = new_code_cell(text.strip("\n"), id=cell_id)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def step_code(name: str) -> nbformat.NotebookNode:
    """The cell that runs one step: its id and the step it names come from the registry of steps."""
    found = step(name)
    return code(found.cell, f"""
from bakemigrate.notebook import here

here(globals()).run("{found.name}")
""")


CELLS = [
    md("intro", """
# Move your bake-tracker data from 0.6 to 0.7

bake-tracker 0.7 records what happens to a batch after it is baked: every production run gets a
**status** (*complete*, *partial loss* or *total loss*) and a **loss quantity**. This notebook moves
your database to 0.7 one step at a time, and proves that nothing was lost on the way.

**What you need**

- Python with bakemigrate installed (you are reading this in it).
- **bake-tracker closed**, for the whole run.
- Free disk space of about **twice the size of your database** (for the backup and the migrated copy).

**How long it takes**: the steps themselves take seconds for a home bakery's database; give yourself
ten minutes to read the results as you go.

**Your database stays untouched until the very end.** Steps 0 to 6 work on copies in a work folder.
Only step 7 replaces your database with the migrated copy, and only after you have read the
verification and confirmed. A backup is kept, and step 8 can put it back.

**How to run it**: click in the first code cell below and press **Shift+Enter** to run it; go on cell
by cell, reading each result. Running a cell again, or the whole notebook again, is safe: the work
folder keeps a journal of the steps already done, and they are not redone. After a break (a restart
of the kernel, or next week), run the settings cell, then the cell you need: it picks up from the
work folder, or tells you which cell to run first.
"""),
    md("settings", """
## Settings

Change `DB_PATH` to the location of your database, in quotes with an `r` before them, as bake-tracker
keeps it (`bakemigrate locate` in a terminal shows it):

- Windows: `DB_PATH = r"C:\\Users\\you\\Documents\\BakeTracker\\bake_tracker.db"`
- macOS: `DB_PATH = r"/Users/you/Documents/BakeTracker/bake_tracker.db"`
- Linux: `DB_PATH = r"/home/you/Documents/BakeTracker/bake_tracker.db"`

The `r` keeps Windows' backslashes as they are. Leave `DB_PATH` at `None` to try everything on a demo
database first (step 0 then shows where your own database is, with the line to paste here).
`WORK_DIR = None` keeps the work in `bakemigrate-work` beside your database, where the command line
finds it too. Set `CONFIRM_SWITCH = True` only after you have read the verification (step 6).
"""),
    code("parameters", """
# Your database, in quotes; None tries everything on a demo database.
DB_PATH = None
# The folder for the backup, the exports and the migrated copy; None = beside the database.
WORK_DIR = None
# True: past runs that made fewer items than expected become losses.
INFER_LOSSES = False
# True: step 7 replaces your database (only after a PASS).
CONFIRM_SWITCH = False
""", "parameters"),
    code("start", """
from bakemigrate.notebook import here

here(globals(), show_settings=True)
"""),
    md("step-0", """
## Step 0 · Preflight: is it safe to start?

Nothing is written yet. This checks that the database exists and is bake-tracker's, which version it
is, its size, the free disk in the work folder, and that bake-tracker is closed. If the database is
already at 0.7, the notebook says so and skips the remaining steps.
"""),
    step_code("preflight"),
    md("step-1", """
## Step 1 · Backup

A copy of your database goes into the work folder's `backup` folder, checked for integrity, with
its checksum (a fingerprint of the file) recorded beside it. It is never overwritten.
"""),
    step_code("backup"),
    md("step-2", """
## Step 2 · Export

Your production history is written from the backup to a file in bake-tracker's own export format
(version 1.0), exactly as the app itself would write it. Below: the counts, then the first runs.
"""),
    step_code("export"),
    md("step-3", """
## Step 3 · Transform

The export is brought to version 1.1: every run gains three fields, `production_status`
(*complete*), `loss_quantity` (0) and an empty list of `losses`. Runs that made fewer items than
expected are counted here and listed with the verification (step 6): they stay *complete* unless
`INFER_LOSSES` is True, which records the missing items as losses exactly as bake-tracker 0.7 would
(a batch that made nothing is a total loss valued at 0.0000: its ingredient cost stays on the
batch). (The 1.1 file was written in the same pass as the export: this step checks it and shows
what changed.)
"""),
    step_code("transform"),
    md("step-4", """
## Step 4 · Reset

A fresh copy of the backup is made in the work folder (`staging.db`), with the production tables
recreated empty in their 0.7 shape. Every other table (recipes, ingredients, events...) is copied as it is.
"""),
    step_code("reset"),
    md("step-5", """
## Step 5 · Import

The version 1.1 file is imported into the staging copy, all or nothing.
"""),
    step_code("import"),
    md("step-6", """
## Step 6 · Verify: the proof

The migrated copy is compared with your original, table by table and field by field. First the
checks, each with its result:
"""),
    step_code("verify"),
    md("step-6-rows-text", """
**Rows per table**, before and after: every table must have as many rows as before
(the losses table is new in 0.7). The tables you know come first; the others are folded into one
line, which opens with a click.
"""),
    code("step-6-rows", """
from bakemigrate.notebook import here

here(globals()).show("rows")
"""),
    md("step-6-fields-text", """
**Field by field**: for each column, how many values were compared, how many are equal and how many
differ. Tables named *document* compare the migrated copy with the export of step 2.
"""),
    code("step-6-fields", """
from bakemigrate.notebook import here

here(globals()).show("fields")
"""),
    md("step-6-statuses-text", """
**Statuses and losses after the migration**, then the runs that made fewer items than expected in
the past (listed once, here, so you know about them; nothing about them was lost).
"""),
    code("step-6-statuses", """
from bakemigrate.notebook import here

here(globals()).show("statuses")
"""),
    md("step-6-charts-text", """
The same, as charts.
"""),
    code("step-6-charts", """
from bakemigrate.notebook import here

here(globals()).show("charts")
"""),
    md("step-6-verdict-text", """
**The verdict.** PASS means every check above passed. On FAIL the notebook shows the differences and
stops here: your database has not been changed; do not switch.
"""),
    code("step-6-verdict", """
from bakemigrate.notebook import here

here(globals()).show("verdict")
"""),
    md("step-7", """
## Step 7 · Switch

This is the only step that changes your database: it is replaced by the verified copy in one move.
It happens only when `CONFIRM_SWITCH = True`. If the cell below says *not switched*, read the
verification above; when you are satisfied, set `CONFIRM_SWITCH = True` in the settings cell, run
that cell, then run this one again (the steps before it are not redone). Keep bake-tracker closed until it has run.
"""),
    step_code("switch"),
    md("step-8", """
## Step 8 · Rollback (only if you need it)

If something looks wrong in bake-tracker 0.7 after the switch, you can put your original database
back: close bake-tracker, set `ROLLBACK = True` in the cell below and run it. The backup of step 1
replaces the database, and is checked to be equal to it. Anything you entered in bake-tracker 0.7
since the switch is then lost. Leave `ROLLBACK = False` otherwise.
"""),
    code(step("rollback").cell, """
from bakemigrate.notebook import here

ROLLBACK = False  # True puts the backup of step 1 back in place of your database
here(globals()).rollback(ROLLBACK)
"""),
    md("finish-text", """
## How it went
"""),
    code("finish", """
from bakemigrate.notebook import here

here(globals()).finish()
"""),
    md("next", """
## What's next in the app

1. Open bake-tracker 0.7.
2. Look at your production history: every past run shows the status **Complete** and the loss **-**
   (or the losses recorded with `INFER_LOSSES`).
3. From now on, record losses when a batch breaks, burns or goes stale.

Keep the work folder (with its backup) for a while: it is your way back (step 8).
"""),
]


def build() -> nbformat.NotebookNode:
    """The notebook, without outputs."""
    nb = new_notebook(cells=CELLS)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "title": "Move your bake-tracker data from 0.6 to 0.7",
    }
    nbformat.validate(nb)
    return nb


def main(argv: list[str]) -> int:
    text = nbformat.writes(build()) + "\n"
    if "--check" in argv:
        same = NOTEBOOK.exists() and NOTEBOOK.read_text(encoding="utf-8") == text
        print(f"{NOTEBOOK.name}: {'up to date' if same else 'differs from build_notebook.py'}")
        return 0 if same else 1
    NOTEBOOK.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
