"""The guide the notebook's cells call, inside the kernel.

Every code cell of the guided notebook (`notebooks/migrate_v0.6_to_v0.7.ipynb`) starts from
`here`, which reads the settings cell's parameters and returns the `Guide` of this database and
work folder (the same one each time, so re-running a cell keeps what is done; after a kernel
restart a new one reads the work folder's journal). A cell therefore works alone, in any order: it
runs its step when the steps before it are done, and otherwise says which cell to run. When a step
refuses, the guide shows one sentence saying what is wrong and what to do and stops the run with
`NotebookStopped` (one line, no traceback). The verification is kept in the work folder when it
runs, so after the switch the notebook still shows it, marked as recorded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, NoReturn

from .. import readable as view
from .. import steps as registry
from ..backup import backup_paths
from ..errors import MigrationError, VerificationFailed
from ..jsonio import load_json, write_json_atomic
from ..locate import work_folder
from .contract import OUTCOME_KEY, PARAMETERS

STEPS = {step.name: step.label for step in registry.STEPS}
"""The steps, in order, with the label a person reads (from the registry of steps)."""
NEEDS = {later.name: earlier.name for earlier, later in zip(registry.PLAN, registry.PLAN[1:], strict=False)}
"""The step whose journal record a step needs before it runs: the one before it in the plan."""
VERIFICATION_PARTS = ("checks", "rows", "fields", "statuses", "charts", "verdict")
"""The parts of the verification the cells of step 6 show."""
VERIFICATION_RECORD = "verification.json"
"""The verification kept in the work folder, shown again after the switch."""
_FRAMES = ("checks", "summary", "fields", "mismatches", "status_mix", "shortfalls")
_SHORTFALL_COUNTS = ("shortfall_runs", "shortfall_items", "shortfall_made_nothing")
DEMO_FOLDER = "demo"
"""What the demo database's folder adds to the work folder's name: `WORK-demo`, beside `WORK`."""
DEMO_NAME = "bake_tracker.db"
"""The demo database's file name, as bake-tracker names its own."""
FROM_THE_TOP = "run the cells from the top (menu *Run › Run All Cells*); the steps already done are not redone"


class NotebookStopped(Exception):
    """The run stops here for a reason a person can act on; the message is that one sentence.

    IPython shows `_render_traceback_` instead of a traceback, so the cell's error output is
    one line; a headless run reports the message and the exit code.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def _render_traceback_(self) -> list[str]:
        return [f"The notebook stopped here: {self}"]


def _escape(text: object) -> str:
    """`text` made literal in Markdown (paths and names keep their `_` and `*`)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", str(text))


def _display(obj: Any, **kwargs: Any) -> None:
    from IPython.display import display

    display(obj, **kwargs)


def _markdown(text: str) -> Any:
    from IPython.display import Markdown

    return Markdown(text)


def _note(text: str) -> None:
    """Show one sentence in italics (a step skipped, or what to run first)."""
    _display(_markdown(f"*{text}*"))


def say(result: Any) -> Any:
    """A result's one-line summary (or a plain text) as Markdown, for a cell to display."""
    text = result.summary_line() if hasattr(result, "summary_line") else str(result)
    return _markdown(_escape(text))


def _announce(
    status: str, exit_code: int, message: str, *, title: str, hint: str = "", step: str | None = None
) -> None:
    """Show the outcome to a person and record it in the output's metadata for a headless run."""
    body = f"**{title}** {_escape(message)}"
    if hint:
        body += f"\n\n{hint}"
    outcome = {"status": status, "exit_code": exit_code, "message": message, "step": step}
    _display(_markdown(body), metadata={OUTCOME_KEY: outcome})


def stop(message: str, *, exit_code: int = 2, step: str | None = None, hint: str = "") -> NoReturn:
    """Show `message` (one sentence) with what to do, then stop the run.

    Raises:
        NotebookStopped: always, carrying `message` and `exit_code`.
    """
    status = "verification-failed" if exit_code == 1 else "refused"
    where = f"Stopped at step {STEPS[step]}:" if step in STEPS else "Stopped:"
    _announce(status, exit_code, message, title=where, hint=hint, step=step)
    raise NotebookStopped(message, exit_code)


def chart(fig: Any) -> Any:
    """A matplotlib figure as a PNG image for `display()` (works with any matplotlib backend)."""
    from IPython.display import Image

    from ..plots import png

    return Image(data=png(fig), format="png")


_ESCAPED = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r"}
"""What a backslash in a plain string makes of a Windows path (`"D:\bake"` is `D:`, a backspace, `ake`)."""


def mangled_path_problem(name: str, value: str) -> str | None:
    """The explanation when `value` holds characters a backslash escape made of a Windows path, else None."""
    found = sorted({_ESCAPED[c] for c in value if c in _ESCAPED})
    if not found:
        return None
    return (
        f"{name} looks like a Windows path whose backslashes Python read as special characters "
        f"({', '.join(found)}): in a plain string, a backslash followed by a letter can mean something else. "
        f'Write an r just before the opening quote, as in {name} = r"C:\\Users\\you\\Documents\\BakeTracker'
        f'\\bake_tracker.db", or use forward slashes, as in "C:/Users/you/Documents/BakeTracker/bake_tracker.db"'
    )


def _check_parameters(db_path: Any, work_dir: Any, infer_losses: Any, confirm_switch: Any) -> None:
    """Refuse a parameter of the wrong kind, in one sentence naming it."""
    if db_path is not None and not isinstance(db_path, (str, os.PathLike)):
        raise MigrationError(
            f"DB_PATH must be the location of your database as text in quotes, or None for a demo "
            f"database (it is {db_path!r})"
        )
    if isinstance(db_path, str) and not db_path.strip():
        raise MigrationError("DB_PATH is empty: write the location of your database in quotes, or None")
    if work_dir is not None and (not isinstance(work_dir, (str, os.PathLike)) or not str(work_dir).strip()):
        raise MigrationError(f"WORK_DIR must be a folder name as text in quotes, or None (it is {work_dir!r})")
    for name, value in (("DB_PATH", db_path), ("WORK_DIR", work_dir)):
        problem = mangled_path_problem(name, str(value)) if value is not None else None
        if problem:
            raise MigrationError(problem)
    if work_dir is not None and Path(work_dir).exists() and not Path(work_dir).is_dir():
        raise MigrationError(f"WORK_DIR {work_dir} is a file, not a folder: choose another name")
    for name, value in (("INFER_LOSSES", infer_losses), ("CONFIRM_SWITCH", confirm_switch)):
        if not isinstance(value, bool):
            raise MigrationError(f"{name} must be True or False, without quotes (it is {value!r})")


def start(
    db_path: str | os.PathLike[str] | None,
    work_dir: str | os.PathLike[str] | None,
    *,
    infer_losses: bool = False,
    confirm_switch: bool = False,
    quiet: bool = False,
) -> Guide:
    """Check the parameters and set up the run; `db_path=None` makes a demo database beside `work_dir`.

    `work_dir=None` is the database's own work folder, `bakemigrate-work` beside it (for a demo,
    `bakemigrate-demo-work` in the notebook's folder): the command line finds the same one.

    Unless `quiet`, the settings are shown as a short list.

    Raises:
        NotebookStopped: a parameter is wrong (one sentence naming it).
    """
    from ..pipeline import Migration

    hint = "Correct it in the settings cell, run that cell, then run the notebook again from the top."
    try:
        _check_parameters(db_path, work_dir, infer_losses, confirm_switch)
        db_path, work_dir = (os.path.expanduser(v) if isinstance(v, str) else v for v in (db_path, work_dir))
        demo = db_path is None
        work_dir = work_folder(db_path, work_dir)
        demo_note = ""
        if demo:
            db_path, demo_note = _demo_database(Path(work_dir))
    except MigrationError as exc:
        stop(str(exc), step=None, hint=hint)
    migration = Migration(db_path, work_dir, infer_losses=infer_losses, progress=False)
    guide = Guide(migration, confirm_switch=confirm_switch)
    guide.demo = demo
    if not quiet:
        guide.settings(demo_note)
    return guide


def own_database_note() -> str:
    """Where the baker's own database is (as the app finds it), with the settings line to paste."""
    from ..locate import DatabaseNotFound, locate

    try:
        found = locate()
    except DatabaseNotFound as exc:
        return f"This was a rehearsal on a demo database. To find your own: {_escape(exc)}."
    where = home_relative(found.path)
    if not found.exists:
        return (f"This was a rehearsal on a demo database. bake-tracker keeps its database at "
                f"`{where}`, but there is none there: write its location as `DB_PATH` in the settings cell.")
    return (
        f"This was a rehearsal on a demo database. Your own database is where bake-tracker keeps it, "
        f"`{where}` ({found.summary_line().split(': ', 1)[-1]}). To migrate it, write this line "
        f"in the settings cell and run the notebook again from the top:\n\n```python\nDB_PATH = r\"{where}\"\n```"
    )


def home_relative(path: Path) -> str:
    """`path` with the home folder written `~` (the settings cell accepts it), else as it is."""
    home = Path(os.path.expanduser("~"))
    try:
        return str(Path("~") / path.relative_to(home))
    except ValueError:
        return str(path)


def demo_database_path(work_dir: str | os.PathLike[str]) -> Path:
    """Where a rehearsal keeps its demo database: `WORK-demo/bake_tracker.db`, beside the work folder.

    Never inside the work folder: a migration refuses a work folder that holds its database.

    Raises:
        MigrationError: the work folder is the top of a disk, which has nothing beside it.
    """
    folder = Path(work_dir)
    if not folder.name or ".." in folder.parts:  # ".", "..", "a/..": named from the folder it is
        folder = Path(os.path.abspath(folder))
    if not folder.name:
        raise MigrationError(f"{work_dir}: a rehearsal puts its demo database beside the work folder, and the "
                             "top of a disk has nothing beside it; choose a WORK_DIR with a name")
    return folder.with_name(f"{folder.name}-{DEMO_FOLDER}") / DEMO_NAME


def _demo_database(work_dir: Path) -> tuple[Path, str]:
    from ..demo import demo

    path = demo_database_path(work_dir)
    if path.exists():
        return path, " (the demo database made by an earlier run)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MigrationError(f"{path.parent}: cannot create the folder ({exc.strerror})") from None
    summary = demo(path)
    return path, f" (a new demo database: {summary.runs} production runs, {summary.consumptions} consumptions)"


_GUIDES: dict[tuple[str, str, bool], Guide] = {}
"""The guides of this kernel, by their parameters: re-running a cell finds the steps it has done."""


class _NoSettings:
    """What a cell gets before the settings cell has run: every action says to run it first."""

    def _explain(self, *args: Any, **kwargs: Any) -> None:
        _note("The settings are not set yet: run the cell under *Settings* first (click in it and press "
              "Shift+Enter), then this cell again.")

    run = show = rollback = finish = settings = _explain


def here(namespace: dict[str, Any], *, show_settings: bool = False) -> Guide | _NoSettings:
    """The guide of the parameters in `namespace` (a cell's `globals()`), made once per kernel.

    The same parameters give the same guide, which keeps the results of the cells already run;
    `CONFIRM_SWITCH` is read again each time. Before the settings cell has run, the guide returned
    only says to run it.

    Raises:
        NotebookStopped: a parameter is wrong (one sentence naming it).
    """
    if any(name not in namespace for name in PARAMETERS):
        unset = _NoSettings()
        if show_settings:
            unset.settings()
        return unset
    db, work, infer, confirm = (namespace[name] for name in PARAMETERS)
    key = (repr(db), repr(work), repr(infer))
    guide = _GUIDES.get(key)
    if guide is None:
        guide = start(db, work, infer_losses=infer, confirm_switch=confirm, quiet=not show_settings)
        _GUIDES[key] = guide
    else:
        if not isinstance(confirm, bool):
            _check_parameters(db, work, infer, confirm)  # names the parameter
        guide.confirm_switch = confirm
        if show_settings:
            guide.settings(" (the steps run so far in this session are kept)")
    return guide


class Guide:
    """The state of one run of the notebook: which steps ran, and whether to go on.

    Attributes:
        migration: the [Migration][bakemigrate.pipeline.Migration] the cells call.
        results: each step's result, by step name, for the steps run in this kernel.
        finished: why the remaining steps are skipped (already migrated), or None.
    """

    def __init__(self, migration: Any, *, confirm_switch: bool = False) -> None:
        self.migration = migration
        self.confirm_switch = confirm_switch
        self.results: dict[str, Any] = {}
        self.finished: str | None = None
        self.current: str | None = None
        self.demo = False
        """True for a rehearsal on a demo database (no `DB_PATH`)."""
        self._quiet = False

    def settings(self, demo_note: str = "") -> None:
        """Show the settings in use, as a short list."""
        migration = self.migration
        lines = [
            f"- database: `{view.shown_path(migration.db)}`{demo_note}",
            f"- work folder: `{view.shown_path(migration.workdir)}`",
            f"- past shortfalls recorded as losses: {'yes' if migration.infer_losses else 'no'}",
            f"- switch confirmed: {'yes' if self.confirm_switch else 'no (step 7 will wait for you)'}",
        ]
        _display(_markdown("\n".join(lines)))

    # -- the journal of the work folder -----------------------------------------------------------
    def _journal(self, step: str) -> dict[str, Any] | None:
        """The work folder's journal record of `step` (None when not done or no journal yet)."""
        from ..workfolder import WorkFolder

        folder = self.migration.folder
        try:  # read afresh: another kernel, or the command line, may have recorded since
            return WorkFolder(folder.path, folder.db, infer_losses=folder.infer_losses).journal.get(step)
        except MigrationError:
            return None

    # -- the cells --------------------------------------------------------------------------------
    def run(self, step: str) -> None:
        """Run the cell of `step` and show its result (or say why not, and what to run first).

        After the switch, the cell of step 6 shows the verification kept in the work folder.

        Raises:
            NotebookStopped: the step refused (one sentence, with what to do).
        """
        if step not in STEPS or step == "rollback":
            raise ValueError(f"unknown step {step!r}")
        if not self._ready(step):
            return
        method = getattr(self.migration, registry.step(step).method)
        result = self.call(method, confirm=self.confirm_switch) if step == "switch" else self.call(method)
        if step == "verify":
            self._keep_verification(result)
        getattr(self, f"_show_{step}")(result)

    def _ready(self, step: str) -> bool:
        """Whether `step` can run now; when not, say what to do instead."""
        self.current = step
        if step == "preflight":
            self.results.clear()
            self.finished = None
            return True
        self._checked()
        self.current = step
        if self.finished:
            done = self._journal(step)
            if step == "switch" and done is not None:
                _note(f"Switched on {view.when(done.get('at'))}: your database is the migrated one.")
            elif step == "verify" and self._recorded_verification() is not None:
                self.show("checks")
            else:
                _note(f"Skipped: {self.finished}.")
            return False
        needed = NEEDS.get(step)
        if needed and needed not in self.results and self._journal(needed) is None:
            _note(f"Step {STEPS[step]} needs step {STEPS[needed]} first: {FROM_THE_TOP}.")
            return False
        return True

    def _checked(self) -> None:
        """Run the preflight quietly when this kernel has not (a cell run alone, after a restart)."""
        if "preflight" not in self.results:
            self.current = "preflight"
            self._quiet = True
            try:
                self.call(self.migration.preflight)
            finally:
                self._quiet = False

    def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one step function; on a refusal, show its sentence and stop the run.

        Raises:
            NotebookStopped: the step raised a [MigrationError][bakemigrate.errors.MigrationError]
                (or could not read or write a file).
        """
        step = self.current
        try:
            result = func(*args, **kwargs)
        except MigrationError as exc:
            stop(str(exc), exit_code=exc.exit_code, step=step, hint=self._hint(step, exc))
        except OSError as exc:
            where = exc.filename or "a file"
            stop(f"{where}: cannot read or write ({exc.strerror or exc})", step=step, hint=self._hint(step, exc))
        if step is not None:
            self.results[step] = result
        if step == "preflight" and getattr(result, "already_migrated", False):
            self._already_migrated()
        return result

    def _hint(self, step: str | None, exc: Exception) -> str:
        if step == "rollback":
            return "See the *Rollback* page of the guide before trying again."
        unchanged = "Your database has not been changed."
        if isinstance(exc, VerificationFailed):
            return f"{unchanged} Do not use the migrated copy: see *Troubleshooting, verification failed*."
        return f"{unchanged} Do what the message says, then {FROM_THE_TOP}."

    def _already_migrated(self) -> None:
        db = view.shown_path(self.migration.db)
        self.finished = f"{db} is already at bake-tracker v0.7, nothing to do"
        if self._quiet:
            return
        backup, _ = backup_paths(self.migration.db, self.migration.workdir)
        hint = "The remaining steps are skipped."
        if self._recorded_verification() is not None:
            hint += " The verification of the migration is shown again from the work folder (step 6)."
        if backup.exists():
            hint += f" The backup taken before the migration is `{view.shown_path(backup)}` (step 8 can put it back)."
        _announce("already-migrated", 0, f"{db} is already at bake-tracker v0.7: nothing to do.",
                  title="Already migrated:", hint=hint, step="preflight")

    # -- what each step shows ---------------------------------------------------------------------
    def _show_preflight(self, preflight: Any) -> None:
        frame = preflight.frame()
        frame.loc[frame["check"] == "database", "result"] = view.shown_path(preflight.db)
        _display(view.readable(frame, {"check": "Check", "result": "Result"}))
        if self.demo:
            _display(_markdown(own_database_note()))

    def _show_backup(self, backup: Any) -> None:
        _display(view.facts([
            ("Backup", view.shown_path(backup.path)),
            ("Integrity", "✓ checked (integrity ok)"),
            ("Fingerprint (SHA-256)", view.short_id(backup.sha256, 16)),
            ("Production runs", view.count(backup.runs)),
            ("Size", f"{backup.original_size / 1e6:,.1f} MB"),
            ("Made at", view.when(backup.created_at)),
        ]))

    def _show_export(self, exported: Any) -> None:
        _display(view.facts([
            ("Export file", view.shown_path(exported.path)),
            ("Format", f"bake-tracker export {exported.version}"),
            ("Production runs", view.count(exported.runs)),
            ("Ingredients used", view.count(exported.consumptions)),
            ("Size", f"{exported.size_bytes / 1e6:,.1f} MB"),
        ]))
        runs = load_json(exported.path).get("production_runs", [])[:5]
        _display(view.export_preview(runs))

    def _show_transform(self, report: Any) -> None:
        shortfalls = report.shortfall_count
        _display(view.facts([
            ("Production runs", view.count(report.runs_total)),
            ("Given the 0.7 fields now", view.count(report.runs_transformed)),
            ("Already in the 1.1 format", view.count(report.runs_already_v1_1)),
            ("Made fewer items than expected", f"{shortfalls:,} (listed with the verification, step 6)"),
            ("Made more items than expected", view.count(report.over_yield_count)),
        ]))
        _display(say(report))

    def _show_reset(self, staged: Any) -> None:
        _display(view.facts([
            ("Staging copy", view.shown_path(staged.path)),
            ("Other tables copied as they are", view.count(staged.kept_tables)),
        ]))

    def _show_import(self, imported: Any) -> None:
        _display(view.facts([
            ("Into", view.shown_path(imported.staging)),
            ("From the format", imported.version),
            ("Production runs", view.count(imported.runs)),
            ("Ingredients used", view.count(imported.consumptions)),
            ("Losses", view.count(imported.losses)),
            ("Skipped", view.count(len(imported.skipped))),
            ("Warnings", view.count(len(imported.warnings))),
        ]))

    def _show_verify(self, verification: Any) -> None:
        _display(view.checks(verification.checks))

    def _show_switch(self, switched: Any) -> None:
        _display(say(switched))

    # -- the verification, kept ---------------------------------------------------------------------
    def _keep_verification(self, verification: Any) -> None:
        """Write the verification's tables into the work folder, to be shown again after the switch."""
        done = self._journal("verify") or {}
        record = {
            "at": done.get("at"), "passed": bool(verification.passed),
            "infer_losses": bool(getattr(verification, "infer_losses", False)),
            "summary_line": verification.summary_line(),
            "tables": {name: getattr(verification, name).to_dict(orient="split", index=False) for name in _FRAMES},
            "shortfall_counts": {name: int(getattr(verification, name)) for name in _SHORTFALL_COUNTS},
        }
        write_json_atomic(self.migration.workdir / VERIFICATION_RECORD, record, force=True)

    def _recorded_verification(self) -> tuple[Any, str] | None:
        """The verification kept in the work folder and its date, or None."""
        import pandas as pd

        from ..verify import VerifyResult

        path = self.migration.workdir / VERIFICATION_RECORD
        if not path.exists():
            return None
        try:
            record = load_json(path)
            tables = {name: pd.DataFrame(record["tables"][name]["data"], columns=record["tables"][name]["columns"])
                      for name in _FRAMES}
            short = tables["shortfalls"]  # a record written before the counts were kept lists every shortfall
            counts = record.get("shortfall_counts") or {
                "shortfall_runs": len(short), "shortfall_items": int(short["unaccounted"].sum()),
                "shortfall_made_nothing": int((short["actual_yield"] == 0).sum())}
            result = VerifyResult(passed=bool(record["passed"]), infer_losses=bool(record.get("infer_losses")),
                                  **tables, **{name: int(counts[name]) for name in _SHORTFALL_COUNTS})
            return result, view.when(record.get("at"))
        except (MigrationError, KeyError, TypeError, ValueError):
            return None

    def _verification(self) -> tuple[Any, str] | None:
        """This session's verification (with no date), else the one kept in the work folder."""
        if "verify" in self.results:
            return self.results["verify"], ""
        return self._recorded_verification()

    def show(self, part: str) -> None:
        """Show one part of the verification (`checks`, `rows`, `fields`, `statuses`, `charts`, `verdict`).

        After the switch (or in a new session) it is the verification kept in the work folder,
        marked with its date.

        Raises:
            NotebookStopped: `verdict` of a failed verification (exit code 1).
        """
        if part not in VERIFICATION_PARTS:
            raise ValueError(f"unknown part {part!r}")
        found = self._verification()
        if found is None:
            _note(f"Nothing to show yet: run the cell of step {STEPS['verify']} first, or {FROM_THE_TOP}.")
            return
        verification, recorded = found
        if recorded:
            _note(f"From the migration of {recorded} (the verification kept in the work folder).")
        if part == "checks":
            _display(view.checks(verification.checks))
        elif part == "rows":
            _display(view.rows_per_table(verification.summary))
        elif part == "fields":
            _display(view.fields(verification.fields))
        elif part == "statuses":
            _display(view.status_mix(verification.status_mix))
            count = verification.shortfall_runs
            if count:
                _display(say(verification.shortfall_summary()))
                _display(view.shortfalls(verification.shortfalls))
        elif part == "charts":
            from .. import plots

            _display(chart(plots.rows_per_table(verification.summary)))
            _display(chart(plots.status_mix(verification.status_mix)))
        else:
            self.verdict(verification)

    def verdict(self, verification: Any) -> None:
        """Show the verdict banner; on FAIL show the differences and stop the run (exit code 1).

        Raises:
            NotebookStopped: the verification failed.
        """
        from IPython.display import HTML

        if verification.passed:
            sentence = ("Every check passed: the migrated copy holds every row and every value of your "
                        f"database ({verification.summary_line().removeprefix('verify: PASS ').strip('()')}).")
            _display(HTML(view.banner(True, sentence)))
            return
        _display(HTML(view.banner(False, "The migrated copy differs from your database: do not switch.")))
        _display(view.checks(verification.checks[~verification.checks["passed"].astype(bool)]))
        if len(verification.mismatches):
            _display(view.mismatches(verification.mismatches.head(50)))
        stop(verification.summary_line(), exit_code=1, step="verify",
             hint="Your database has not been changed. Do not switch: see *Troubleshooting, verification failed*.")

    # -- undo ---------------------------------------------------------------------------------------
    def rollback(self, wanted: bool) -> None:
        """Put the backup back in place of the database when `wanted`; otherwise say nothing changes.

        Raises:
            NotebookStopped: the rollback refused (one sentence).
        """
        if wanted is not True:
            if wanted is not False:
                stop(f"ROLLBACK must be True or False, without quotes (it is {wanted!r})", step="rollback",
                     hint="Correct it in the cell of step 8, then run that cell again.")
            _display(say("No rollback asked for: your database stays as it is."))
            return
        self.current = "rollback"
        plan = self.call(self.migration.rollback_plan)
        if plan.changes.file_changed:
            listing = "\n".join(line.strip() for line in plan.lines()[1:-1])
            _display(_markdown(
                "Your database changed since the switch. What is listed here is **not** in the backup; "
                "the database as it is now is kept as a copy in the work folder first:\n\n"
                f"```text\n{listing}\n```"
            ))
        restored = self.call(self.migration.rollback, confirm=True)
        _display(say(restored))

    # -- the end ----------------------------------------------------------------------------------
    def outcome(self) -> tuple[str, int, str]:
        """`(status, exit_code, message)` of the run so far (this session's steps, else the journal)."""
        db = view.shown_path(self.migration.db)
        restored = self.results.get("rollback")
        if restored is not None and getattr(restored, "restored", False):
            return "rolled-back", 0, f"{db} is the pre-migration database again (restored from the backup)."
        if self.finished:
            return "already-migrated", 0, f"{db} is already at bake-tracker v0.7: nothing to do."
        verified = self.results.get("verify")
        passed = verified.passed if verified is not None else (self._journal("verify") or {}).get("verdict") == "PASS"
        switched = self.results.get("switch")
        if passed and switched is not None and switched.switched:
            backup, _ = backup_paths(self.migration.db, self.migration.workdir)
            return ("migrated", 0, f"PASS: {db} migrated to bake-tracker v0.7 and verified; "
                    f"backup in {view.shown_path(backup)}.")
        if passed:
            return ("not-switched", 2, f"verified (PASS) but not switched: set CONFIRM_SWITCH = True; "
                    f"the verified database waits in {view.shown_path(self.migration.staging)}.")
        missing = [STEPS[s] for s in ("preflight", "verify", "switch") if s not in self.results]
        return "incomplete", 2, f"the run is not complete: step {', '.join(missing)} did not run."

    def finish(self) -> None:
        """Show how the run ended (and record it for a headless run)."""
        if "switch" not in self.results and "rollback" not in self.results:
            self._checked()
        status, exit_code, message = self.outcome()
        titles = {
            "migrated": "Done.",
            "already-migrated": "Nothing to do.",
            "rolled-back": "Rolled back.",
            "not-switched": "Not finished yet.",
            "incomplete": "Not finished yet.",
        }
        hint = ""
        if status == "migrated" and self.migration.infer_losses:
            hint = ("Open bake-tracker 0.7: your production runs show the status *Complete* and the loss *-*, "
                    "except the past shortfalls, now recorded as losses (a batch that made nothing "
                    "shows a loss valued at 0.0000, as 0.7 values it).")
        elif status == "migrated":
            hint = ("Open bake-tracker 0.7: your production runs show the status *Complete* "
                    "and the loss *-*.")
        elif status == "incomplete":
            hint = f"To finish, {FROM_THE_TOP}."
        _announce(status, exit_code, message, title=titles[status], hint=hint)
