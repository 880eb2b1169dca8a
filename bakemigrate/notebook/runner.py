"""The headless runner: the guided notebook executed in a fresh kernel, kept as a record.

`run_notebook` executes the notebook in a fresh kernel of this very Python (whatever kernels the
user has installed), injects the parameters (as papermill does) and writes the executed notebook,
with an HTML copy beside it, as the record of the run: a record shows the parameters used in the
settings cell and paths relative to the folder it ran in. The outcome is the one the guide recorded
in the output's metadata, and a run that stops names its cell.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import MigrationError
from ..jsonio import atomic_writer
from ..lock import hold, hold_database, lend_to_children
from ..paths import real_database, refuse_work_folder_holding
from .contract import NOTEBOOK_NAME, OUTCOME_KEY, PARAMETERS
from .guide import demo_database_path

PACKAGE_ROOT = Path(str(resources.files("bakemigrate"))).resolve().parent
"""The folder that holds the `bakemigrate` package (a checkout's root in development)."""
CELL_TIMEOUT = 3600
"""Seconds one cell may run in a headless run before it is stopped."""
RECORD_INTRO = """
# A real migration record

This page is the guided notebook as it ran from start to finish on bake-tracker's demo database
(200 production runs): what each step showed, the verification that proved nothing was lost, and
the switch. Your own run shows the same tables for your data. The code of each step is left out
here; open the notebook itself to run it on your database (see *With the notebook* in the guide).
"""


@dataclass
class NotebookRun:
    """The outcome of `run_notebook`."""

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
    candidates = [Path(str(shipped)), PACKAGE_ROOT / "notebooks" / NOTEBOOK_NAME]
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
    """The kernel's environment: this bakemigrate importable first, matplotlib without a display, and
    the locks this process holds for the run lent to it (`lock.lend_to_children`)."""
    env = lend_to_children(dict(os.environ))
    package_root = str(PACKAGE_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def _held_for_the_run(
    db: str | os.PathLike[str] | None, workdir: str | os.PathLike[str]
) -> contextlib.AbstractContextManager[None]:
    """The locks a headless run holds from start to end, as `migrate` holds them (see `bakemigrate.lock`).

    The database's lock always (for a rehearsal, the demo database's); the work folder's too when
    the folder is there (a rehearsal makes it), unless it holds the database, which the notebook
    refuses in its first step without this run writing there.

    Raises:
        MigrationError: another bakemigrate holds the work folder or the database (naming its pid).
    """
    if db is None:
        return hold(workdir, demo_database_path(workdir))
    database = real_database(db)
    try:
        refuse_work_folder_holding(database, workdir)
    except MigrationError:
        return hold_database(database, workdir)
    return hold(workdir, database) if Path(workdir).is_dir() else hold_database(database, workdir)


def _as_given(path: str | os.PathLike[str]) -> str:
    """`path` relative to the current folder when inside it (the kernel runs there), else absolute."""
    absolute = Path(path).absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def as_record(nb: Any) -> Any:
    """The executed notebook as a record: the introduction of a record, the parameters used shown
    in the settings cell (no separate injected cell), and the prompts to press keys left out."""
    import nbformat

    nb = copy.deepcopy(nb)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    if injected:
        nb.cells = [c for c in nb.cells if c not in injected]
        for cell in nb.cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = injected[0].source
                cell.outputs = injected[0].outputs
                cell.execution_count = injected[0].execution_count
    for cell in nb.cells:
        if cell.get("id") == "intro":
            cell.source = RECORD_INTRO.strip("\n")
        elif "interactive-only" in cell.metadata.get("tags", []):
            cell.source = ""
    nb.cells = [c for c in nb.cells if c.source.strip() or c.cell_type == "code"]
    nb.metadata["title"] = "A real migration record"
    nbformat.validate(nb)
    return nb


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
    """Run the guided notebook headlessly on ``db`` (None: a fresh demo database beside ``workdir``).

    The switch is confirmed (``CONFIRM_SWITCH = True``): it happens only when the verification
    passes. The executed notebook is written to ``output`` (and ``output`` with ``.html`` beside
    it, unless ``html`` is False) whatever the outcome, as the record of the run.

    Exit code (``NotebookRun.exit_code``): 0 migrated and verified, or already at v0.7 (said so);
    1 the verification failed; 2 refused (the message names the cell and what to do).

    The run holds the locks of the work folder and of the database from start to end, as `migrate`
    does, and lends them to its kernel: a second run, or any other bakemigrate, is refused meanwhile.

    A kernel that cannot start or dies, or a cell that runs longer than ``timeout`` seconds, ends
    the run with exit code 2 and says so.

    Raises:
        MigrationError: ``output`` is not a ``.ipynb`` path in a folder that can be made, or another
            bakemigrate holds the work folder or the database (nothing is written then).
    """
    output = Path(output)
    if output.suffix != ".ipynb":
        raise MigrationError(f"{output}: the record must be a notebook file ending in .ipynb")
    if output.is_dir():
        raise MigrationError(f"{output}: is a folder; give a file name ending in .ipynb")
    with _held_for_the_run(db, workdir):
        return _run_held(db, workdir, output, infer_losses, html=html, timeout=timeout)


def _run_held(
    db: str | os.PathLike[str] | None, workdir: str | os.PathLike[str], output: Path, infer_losses: bool,
    *, html: bool, timeout: int,
) -> NotebookRun:
    """`run_notebook`, its locks held."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MigrationError(f"{output.parent}: cannot create the folder ({exc.strerror})") from None

    nb = nbformat.read(notebook_path(), as_version=4)
    nb = inject_parameters(
        nb,
        DB_PATH=None if db is None else _as_given(db),
        WORK_DIR=_as_given(workdir),
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
    exit_code, status, message, cell = _judge(nb, failure)
    page, note = _write_record(as_record(nb), output, html)

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
