"""The guided notebook: the helpers its cells call, and a headless runner that keeps a record.

Inside the notebook (``notebooks/migrate_v0.6_to_v0.7.ipynb``), :func:`start` checks the four
parameters and returns a :class:`Guide`. Every step cell asks the guide whether to go on
(:meth:`Guide.go`), calls one :class:`~bakemigrate.pipeline.Migration` method through
:meth:`Guide.call` and displays the result. When a step cannot go on, the guide shows one sentence
saying what is wrong and what to do, and stops the run with :class:`NotebookStopped` (no traceback).
When the database is already migrated, the remaining steps say so and are skipped without error.

Outside, :func:`run_notebook` executes the notebook in a fresh kernel of this very Python (whatever
kernels the user has installed), injects the parameters after the ``parameters`` cell (as papermill
does) and writes the executed notebook, with an HTML copy beside it, as the record of the run.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import MigrationError, VerificationFailed
from .jsonio import atomic_writer, load_json

if TYPE_CHECKING:
    import pandas as pd

NOTEBOOK_NAME = "migrate_v0.6_to_v0.7.ipynb"
#: The names the ``parameters`` cell defines (the contract with a headless run).
PARAMETERS = ("DB_PATH", "WORK_DIR", "INFER_LOSSES", "CONFIRM_SWITCH")
#: The steps, in order, with the label a person reads.
STEPS = {
    "preflight": "0 · preflight",
    "backup": "1 · backup",
    "export": "2 · export",
    "transform": "3 · transform",
    "reset": "4 · reset",
    "import": "5 · import",
    "verify": "6 · verify",
    "switch": "7 · switch",
    "rollback": "8 · rollback",
}
#: Key of the output metadata that carries a run's outcome, read back by :func:`run_notebook`.
OUTCOME_KEY = "bakemigrate"
DEMO_FOLDER = "demo"
DEMO_NAME = "bake_tracker.db"
#: Seconds one cell may run in a headless run before it is stopped.
CELL_TIMEOUT = 3600


# =============================================================================================
# Inside the notebook
# =============================================================================================


class NotebookStopped(Exception):
    """The run stops here for a reason a person can act on; the message is that one sentence.

    IPython shows :meth:`_render_traceback_` instead of a traceback, so the cell's error output is
    one line; a headless run reports the message and the exit code.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def _render_traceback_(self) -> list[str]:
        return [f"The notebook stopped here: {self}"]


def _escape(text: object) -> str:
    """``text`` made literal in Markdown (paths and names keep their ``_`` and ``*``)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~])", r"\\\1", str(text))


def _display(obj: Any, **kwargs: Any) -> None:
    from IPython.display import display

    display(obj, **kwargs)


def _markdown(text: str) -> Any:
    from IPython.display import Markdown

    return Markdown(text)


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
    """Show ``message`` (one sentence) with what to do, then stop the run.

    Raises:
        NotebookStopped: always, carrying ``message`` and ``exit_code``.
    """
    status = "verification-failed" if exit_code == 1 else "refused"
    where = f"Stopped at step {STEPS[step]}:" if step in STEPS else "Stopped:"
    _announce(status, exit_code, message, title=where, hint=hint, step=step)
    raise NotebookStopped(message, exit_code)


def facts(result: Any, *names: str) -> pd.DataFrame:
    """Chosen fields of a step's result as a two-column table (``fact``, ``value``).

    Lists are shown by their length; paths and other values as text.
    """
    import pandas as pd

    if not is_dataclass(result):
        raise TypeError(f"facts() needs a step result, not {type(result).__name__}")
    available = [f.name for f in fields(result)]
    rows = []
    for name in names or available:
        value = getattr(result, name)
        if isinstance(value, (list, tuple)):
            value = len(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        label = re.sub(r"v(\d)_(\d)", r"v\1.\2", name).replace("_", " ")
        rows.append((label, str(value)))
    return pd.DataFrame(rows, columns=["fact", "value"])


def export_preview(path: str | os.PathLike[str], runs: int = 5) -> pd.DataFrame:
    """The first ``runs`` production runs of an export document, one row each (consumptions counted)."""
    import pandas as pd

    doc = load_json(path)
    rows = []
    for run in doc.get("production_runs", [])[:runs]:
        row = {k: v for k, v in run.items() if not isinstance(v, (list, dict))}
        row["consumptions"] = len(run.get("consumptions", []))
        rows.append(row)
    frame = pd.DataFrame(rows)
    preferred = ["produced_at", "recipe_name", "num_batches", "expected_yield", "actual_yield",
                 "total_ingredient_cost", "consumptions"]
    return frame[[c for c in preferred if c in frame.columns]]


def chart(fig: Any) -> Any:
    """A matplotlib figure as a PNG image for ``display()`` (works with any matplotlib backend)."""
    from IPython.display import Image

    from .plots import png

    return Image(data=png(fig), format="png")


def _check_parameters(db_path: Any, work_dir: Any, infer_losses: Any, confirm_switch: Any) -> None:
    """Refuse a parameter of the wrong kind, in one sentence naming it."""
    if db_path is not None and not isinstance(db_path, (str, os.PathLike)):
        raise MigrationError(
            f"DB_PATH must be the location of your database as text in quotes, or None for a demo "
            f"database (it is {db_path!r})"
        )
    if isinstance(db_path, str) and not db_path.strip():
        raise MigrationError("DB_PATH is empty: write the location of your database in quotes, or None")
    if not isinstance(work_dir, (str, os.PathLike)) or not str(work_dir).strip():
        raise MigrationError(f"WORK_DIR must be a folder name as text in quotes (it is {work_dir!r})")
    if Path(work_dir).exists() and not Path(work_dir).is_dir():
        raise MigrationError(f"WORK_DIR {work_dir} is a file, not a folder: choose another name")
    for name, value in (("INFER_LOSSES", infer_losses), ("CONFIRM_SWITCH", confirm_switch)):
        if not isinstance(value, bool):
            raise MigrationError(f"{name} must be True or False, without quotes (it is {value!r})")


def start(
    db_path: str | os.PathLike[str] | None,
    work_dir: str | os.PathLike[str],
    *,
    infer_losses: bool = False,
    confirm_switch: bool = False,
) -> Guide:
    """Check the parameters and set up the run; ``db_path=None`` makes a demo database in ``work_dir``.

    Raises:
        NotebookStopped: a parameter is wrong (one sentence naming it).
    """
    from .pipeline import Migration

    hint = "Correct it in the parameters cell, then run the notebook again from the top."
    try:
        _check_parameters(db_path, work_dir, infer_losses, confirm_switch)
        demo_note = ""
        if db_path is None:
            db_path, demo_note = _demo_database(Path(work_dir))
    except MigrationError as exc:
        stop(str(exc), step=None, hint=hint)
    migration = Migration(db_path, work_dir, infer_losses=infer_losses, progress=False)
    guide = Guide(migration, confirm_switch=confirm_switch)
    lines = [
        f"- database: `{migration.db}`{demo_note}",
        f"- work folder: `{migration.workdir}`",
        f"- historical shortfalls recorded as losses: {'yes' if infer_losses else 'no'}",
        f"- switch confirmed: {'yes' if confirm_switch else 'no (step 7 will wait for you)'}",
    ]
    _display(_markdown("\n".join(lines)))
    return guide


def _demo_database(work_dir: Path) -> tuple[Path, str]:
    from .demo import create_demo_database

    path = work_dir / DEMO_FOLDER / DEMO_NAME
    if path.exists():
        return path, " (the demo database made by an earlier run)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MigrationError(f"{path.parent}: cannot create the folder ({exc.strerror})") from None
    summary = create_demo_database(path)
    return path, f" (a new demo database: {summary.runs} production runs, {summary.consumptions} consumptions)"


class Guide:
    """The state of one run of the notebook: which steps ran, and whether to go on.

    Attributes:
        migration: the :class:`~bakemigrate.pipeline.Migration` the cells call.
        results: each step's result, by step name, for the steps run in this session.
        finished: why the remaining steps are skipped (already migrated), or None.
    """

    def __init__(self, migration: Any, *, confirm_switch: bool = False) -> None:
        self.migration = migration
        self.confirm_switch = confirm_switch
        self.results: dict[str, Any] = {}
        self.finished: str | None = None
        self.current: str | None = None

    # -- the cells' questions ---------------------------------------------------------------------
    def go(self, step: str) -> bool:
        """Whether the cell of ``step`` should run: False (said so) once the run is finished early.

        Step 0 starts the run over; a later step needs step 0 to have passed in this session.

        Raises:
            NotebookStopped: step 0 has not run yet.
        """
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        if step == "preflight":
            self.results.clear()
            self.finished = None
        elif step != "rollback":
            if self.finished:
                _display(_markdown(f"*Skipped: {_escape(self.finished)}*"))
                return False
            if "preflight" not in self.results:
                stop("run the cell of step 0, preflight, first (it checks that it is safe to start)",
                     step=step, hint="Then run the notebook again from the top.")
        self.current = step
        return True

    def show(self, step: str) -> bool:
        """Whether ``step``'s result is here to be shown (skipped, with a word, when it is not)."""
        if step in self.results:
            return True
        reason = self.finished or f"the cell of step {STEPS[step]} has not run yet"
        _display(_markdown(f"*Skipped: {_escape(reason)}*"))
        return False

    # -- running a step ---------------------------------------------------------------------------
    def call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one step function; on a refusal, show its sentence and stop the run.

        Raises:
            NotebookStopped: the step raised a :class:`~bakemigrate.errors.MigrationError` (or
                could not read or write a file).
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
        return (
            f"{unchanged} Do what the message says, then run the notebook again from the top: "
            "the steps already done are not redone."
        )

    def _already_migrated(self) -> None:
        db = self.migration.db
        self.finished = f"{db} is already at bake-tracker v0.7, nothing to do"
        backup = self.migration.workdir / "backup" / db.name
        hint = "The remaining steps are skipped."
        if backup.exists():
            hint += f" The backup taken before the migration is `{backup}` (see step 8 to go back to it)."
        _announce("already-migrated", 0, f"{db} is already at bake-tracker v0.7: nothing to do.",
                  title="Already migrated:", hint=hint, step="preflight")

    def verdict(self, verification: Any) -> None:
        """Show the verdict; on FAIL show the differences and stop the run (exit code 1).

        Raises:
            NotebookStopped: the verification failed.
        """
        if verification.passed:
            _display(_markdown(f"**Verdict: PASS.** {_escape(verification.summary_line())}"))
            return
        failed = verification.checks[~verification.checks["passed"]]
        _display(failed)
        if len(verification.mismatches):
            _display(verification.mismatches.head(50))
        stop(verification.summary_line(), exit_code=1, step="verify",
             hint="Your database has not been changed. Do not switch: see *Troubleshooting, verification failed*.")

    # -- the end ----------------------------------------------------------------------------------
    def outcome(self) -> tuple[str, int, str]:
        """``(status, exit_code, message)`` of the run so far."""
        db = self.migration.db
        verified = self.results.get("verify")
        switched = self.results.get("switch")
        restored = self.results.get("rollback")
        if restored is not None and restored.restored:
            return "rolled-back", 0, f"{db} is the pre-migration database again (restored from the backup)."
        if self.finished:
            return "already-migrated", 0, f"{db} is already at bake-tracker v0.7: nothing to do."
        if verified is not None and verified.passed and switched is not None and switched.switched:
            return ("migrated", 0, f"PASS: {db} migrated to bake-tracker v0.7 and verified; "
                    f"backup in {self.migration.workdir / 'backup' / db.name}.")
        if verified is not None and verified.passed:
            return ("not-switched", 2, f"verified (PASS) but not switched: set CONFIRM_SWITCH = True; "
                    f"the verified database waits in {self.migration.staging}.")
        missing = [STEPS[s] for s in ("preflight", "verify", "switch") if s not in self.results]
        return "incomplete", 2, f"the run is not complete: step {', '.join(missing)} did not run."

    def finish(self) -> None:
        """Show how the run ended (and record it for a headless run)."""
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
        _announce(status, exit_code, message, title=titles[status], hint=hint)


# =============================================================================================
# Headless
# =============================================================================================


@dataclass
class NotebookRun:
    """The outcome of :func:`run_notebook`."""

    exit_code: int
    status: str
    message: str
    output: Path
    html: Path | None = None
    cell: str | None = None
    """The id of the cell that stopped the run, if one did."""
    seconds: float = 0.0
    note: str = ""
    """Something about the record itself (e.g. why there is no HTML copy)."""

    def summary_line(self) -> str:
        """One line: the outcome, the cell that stopped the run if any, and where the record is."""
        record = f"record in {self.output}" + (f" and {self.html}" if self.html else "")
        if self.note:
            record += f" ({self.note})"
        if self.cell and self.exit_code:
            return f"stopped at cell '{self.cell}': {self.message.rstrip('.')}; {record}"
        return f"{self.message.rstrip('.')}; {record}"


def notebook_path() -> Path:
    """The guided notebook: shipped inside the package (a link to ``notebooks/`` in a checkout)."""
    shipped = resources.files("bakemigrate") / "notebooks" / NOTEBOOK_NAME
    candidates = [Path(str(shipped)), Path(__file__).resolve().parents[1] / "notebooks" / NOTEBOOK_NAME]
    for candidate in candidates:
        # a checkout made without symbolic links holds the link's target path as text instead
        if candidate.is_file() and candidate.read_bytes()[:1] == b"{":
            return candidate
    raise MigrationError(f"{NOTEBOOK_NAME}: the notebook is missing from the installation; reinstall bakemigrate")


def inject_parameters(nb: Any, **values: Any) -> Any:
    """A copy of ``nb`` with a cell ``injected-parameters`` setting ``values``, after the ``parameters`` cell."""
    import nbformat

    unknown = set(values) - set(PARAMETERS)
    if unknown:
        raise ValueError(f"not notebook parameters: {', '.join(sorted(unknown))}")
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    if not tagged:
        raise MigrationError(f"{NOTEBOOK_NAME}: no cell tagged 'parameters'; reinstall bakemigrate")
    source = "# Parameters of this run\n" + "".join(f"{k} = {v!r}\n" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source.rstrip("\n"), id="injected-parameters")
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(tagged[0] + 1, cell)
    return nb


class _PackageKernelSpecs:
    """A kernel spec source that always answers with this Python's own ipykernel."""

    @staticmethod
    def spec() -> Any:
        from jupyter_client.kernelspec import KernelSpec

        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} (bakemigrate)",
            language="python",
            name="bakemigrate",
        )


def kernel_manager(socket_folder: str | os.PathLike[str] | None = None) -> Any:
    """A kernel manager that starts ``sys.executable -m ipykernel_launcher`` (no installed kernelspec needed).

    With ``socket_folder`` the kernel's connection file is written there (removed with the folder)
    and, except on Windows, the kernel talks over local sockets made in that folder (``ipc``) rather
    than over TCP.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    class PackageKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> Any:
            return _PackageKernelSpecs.spec()

    manager = KernelManager(kernel_name="bakemigrate", kernel_spec_manager=PackageKernelSpecManager())
    if socket_folder is not None:
        manager.connection_file = str(Path(socket_folder) / "connection.json")
        if sys.platform != "win32":
            manager.transport = "ipc"
            manager.ip = str(Path(socket_folder) / "kernel")
    return manager


def _kernel_env() -> dict[str, str]:
    """The kernel's environment: this bakemigrate importable first, matplotlib without a display."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def _record_outcome(nb: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The last outcome the notebook recorded, and the id of the cell that shows it."""
    found: tuple[dict[str, Any] | None, str | None] = (None, None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            outcome = out.get("metadata", {}).get(OUTCOME_KEY)
            if isinstance(outcome, dict) and "exit_code" in outcome:
                found = (dict(outcome), cell.get("id"))
    return found


def _error_cell(nb: Any) -> tuple[str | None, str, str]:
    """The id, error name and value of the first cell with an error output."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return cell.get("id"), out.get("ename", ""), out.get("evalue", "")
    return None, "", ""


def html_record(nb: Any) -> str:
    """The executed notebook as one self-contained HTML page (no script or style from another host).

    The JupyterLab look is kept; the loaders for RequireJS, MathJax, Mermaid and widgets, which
    the notebook does not need and which come from CDNs, are left out.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    template = (
        "{%- extends 'lab/index.html.j2' -%}\n"
        "{% block html_head_js %}{% endblock html_head_js %}\n"
        "{% block jupyter_widgets %}{% endblock jupyter_widgets %}\n"
        "{% block html_head_js_mathjax %}{% endblock html_head_js_mathjax %}\n"
        "{% block html_head_js_mermaidjs %}{% endblock html_head_js_mermaidjs %}\n"
    )
    # nbconvert looks for its templates under this environment's prefix; a virtual environment
    # that borrows the system's packages has them under the base prefix
    folders = {Path(p) / "share" / "jupyter" / "nbconvert" / "templates"
               for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    folders = sorted(str(f) for f in folders if (f / "lab").is_dir())
    exporter = HTMLExporter(
        template_name="lab", extra_loaders=[DictLoader({"bakemigrate_record.html.j2": template})],
        template_file="bakemigrate_record.html.j2", embed_images=True,
        extra_template_basedirs=folders, extra_template_paths=folders,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": "bakemigrate migration record"}})
    return body


def _write_record(nb: Any, output: Path, with_html: bool) -> tuple[Path | None, str]:
    """Write the executed notebook, then its HTML copy; return the copy (or None) and a note."""
    import nbformat

    with atomic_writer(output, force=True) as fh:
        nbformat.write(nb, fh)
    if not with_html:
        return None, ""
    try:
        page_text = html_record(nb)
    except Exception as exc:  # nbconvert and jinja2 template errors share no base class
        return None, f"no HTML copy ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
    page = output.with_suffix(".html")
    with atomic_writer(page, force=True) as fh:
        fh.write(page_text)
    return page, ""


def run_notebook(
    db: str | os.PathLike[str] | None,
    workdir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    infer_losses: bool = False,
    *,
    html: bool = True,
    timeout: int = CELL_TIMEOUT,
) -> NotebookRun:
    """Run the guided notebook headlessly on ``db`` (None: a fresh demo database in ``workdir``).

    The switch is confirmed (``CONFIRM_SWITCH = True``): it happens only when the verification
    passes. The executed notebook is written to ``output`` (and ``output`` with ``.html`` beside
    it, unless ``html`` is False) whatever the outcome, as the record of the run.

    Exit code (``NotebookRun.exit_code``): 0 migrated and verified, or already at v0.7 (said so);
    1 the verification failed; 2 refused (the message names the cell and what to do).

    A kernel that cannot start or dies, or a cell that runs longer than ``timeout`` seconds, ends
    the run with exit code 2 and says so.

    Raises:
        MigrationError: ``output`` is not a ``.ipynb`` path in a folder that can be made.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    output = Path(output)
    if output.suffix != ".ipynb":
        raise MigrationError(f"{output}: the record must be a notebook file ending in .ipynb")
    if output.is_dir():
        raise MigrationError(f"{output}: is a folder; give a file name ending in .ipynb")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MigrationError(f"{output.parent}: cannot create the folder ({exc.strerror})") from None

    nb = nbformat.read(notebook_path(), as_version=4)
    nb = inject_parameters(
        nb,
        DB_PATH=None if db is None else str(Path(db).absolute()),
        WORK_DIR=str(Path(workdir).absolute()),
        INFER_LOSSES=bool(infer_losses),
        CONFIRM_SWITCH=True,
    )
    socket_folder = tempfile.mkdtemp(prefix="bmk-")  # short: socket paths have a length limit
    manager = kernel_manager(socket_folder)
    client = NotebookClient(nb, km=manager, timeout=timeout, allow_errors=False,
                            resources={"metadata": {"path": os.getcwd()}})
    began = time.perf_counter()
    failure: str | None = None
    with tempfile.TemporaryFile(mode="w+", prefix="bakemigrate-kernel-") as kernel_log:
        try:
            client.execute(env=_kernel_env(), stdout=subprocess.DEVNULL, stderr=kernel_log)
        except CellExecutionError:
            pass  # the record and its outcome tell what happened
        except (CellTimeoutError, DeadKernelError, RuntimeError) as exc:
            kernel_log.seek(0)
            last = [line for line in kernel_log.read().splitlines() if line.strip()][-1:]
            detail = last[0].strip() if last else " ".join(str(exc).split())[:200]
            failure = f"the notebook's Python kernel stopped ({detail})"
        finally:
            shutil.rmtree(socket_folder, ignore_errors=True)
    seconds = time.perf_counter() - began
    page, note = _write_record(nb, output, html)

    exit_code, status, message, cell = _judge(nb, failure)
    return NotebookRun(exit_code, status, message, output, page, cell, seconds, note)


def _judge(nb: Any, failure: str | None) -> tuple[int, str, str, str | None]:
    """``(exit_code, status, message, cell)`` of an executed notebook, from the outcome it recorded."""
    outcome, outcome_cell = _record_outcome(nb)
    error_cell, ename, evalue = _error_cell(nb)
    if failure is not None:
        return 2, "kernel-failed", failure, error_cell
    if outcome is not None and (error_cell is None or error_cell == outcome_cell):
        return int(outcome["exit_code"]), str(outcome["status"]), str(outcome["message"]), error_cell
    if error_cell is not None:
        message = " ".join(f"{ename}: {evalue}".split()).strip(": ") or "an unexpected error"
        return 2, "error", message, error_cell
    return 2, "incomplete", "the notebook ended without saying how the run went", None
