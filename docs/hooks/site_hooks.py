"""MkDocs hooks of the bakemigrate site.

- The command-line reference is written from ``bakemigrate.cli.build_parser()`` at build time, so
  it always shows the options the installed ``bakemigrate`` really has.
- The notebook page is rendered by mkdocs-jupyter, whose template adds MathJax and Mermaid loaders
  that point at a public CDN. The record uses neither, and the site must load nothing from outside,
  so those loaders are removed from the rendered page.
- The record page, "A real migration record", is the guided notebook executed headlessly on a
  fresh demo database. It is a generated file, kept out of the source tree: when the kept record
  is missing or older than the notebook or the package, the build runs the notebook in a temporary
  folder (`make_notebook_record`) and keeps the record in a cache folder outside the repository
  (`$BAKEMIGRATE_SITE_CACHE`, by default `~/.cache/bakemigrate/site/`), from where it is added to
  the site as `notebook/migration-record.ipynb`. `mkdocs serve` rebuilds when the notebook changes.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

CLI_MARKER = "<!-- cli-reference -->"
HELP_WIDTH = "88"
RECORD_URI = "notebook/migration-record.ipynb"
"""Where the executed notebook record appears in the site's sources (it is not a file there)."""
NOTEBOOK = Path("notebooks") / "migrate_v0.6_to_v0.7.ipynb"
CACHE_VARIABLE = "BAKEMIGRATE_SITE_CACHE"
RECORD_TIMEOUT = 900
log = logging.getLogger("mkdocs.hooks.site_hooks")

# A <script src="http..."> element, or one with an empty src (the MathJax loader when no URL is
# set), and the inline module that imports Mermaid from a CDN.
_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"(?:https?://[^\"]*)?\"[^>]*>\s*</script>", re.IGNORECASE)
_CDN_MODULE = re.compile(
    r"<script type=\"module\">(?:(?!</script>).)*?https?://(?:(?!</script>).)*?</script>",
    re.IGNORECASE | re.DOTALL,
)


@contextmanager
def _help_width() -> Iterator[None]:
    """Render argparse help at a fixed width, whatever the terminal of the build."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def cli_reference_markdown() -> str:
    """Markdown of ``bakemigrate --help`` and of every subcommand's ``--help``."""
    from bakemigrate.cli import build_parser

    parser = build_parser()
    with _help_width():
        parts = ["## bakemigrate", "", "```text", parser.format_help().rstrip(), "```", ""]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    parts += [f"## bakemigrate {name}", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001
    """Fill the command-line reference page."""
    if CLI_MARKER in markdown:
        return markdown.replace(CLI_MARKER, cli_reference_markdown())
    return markdown


def strip_cdn_loaders(html: str) -> str:
    """Remove script elements that would load code from another host."""
    html = _EXTERNAL_SCRIPT.sub("", html)
    return _CDN_MODULE.sub("", html)


def on_post_page(output: str, page, config) -> str:  # noqa: ANN001
    """Keep every page self-contained: no script from another host."""
    return strip_cdn_loaders(output)


# ---- the executed notebook record -------------------------------------------------------------


def _record_cache(root: Path) -> Path:
    """The folder that keeps the record of the checkout at `root`, outside the source tree."""
    chosen = os.environ.get(CACHE_VARIABLE)
    if chosen:
        return Path(chosen)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "bakemigrate" / "site" / hashlib.sha256(str(root).encode()).hexdigest()[:16]


def _record_sources(root: Path) -> list[Path]:
    """The files a record is made from: the guided notebook and the package's own code."""
    return [root / NOTEBOOK, *sorted((root / "bakemigrate").rglob("*.py"))]


def make_notebook_record(root: Path, record: Path) -> None:
    """Run the guided notebook of the checkout at `root` on a fresh demo database; write `record`.

    The run happens in a temporary folder (its working directory, demo database, work folder and
    backups), which is removed afterwards; only the executed notebook is kept, at `record`,
    replaced in one step. A run that does not end in `PASS` fails the build with its last line.
    """
    env = dict(os.environ)
    if (root / "bakemigrate" / "__init__.py").is_file():  # this checkout's code, not another copy
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    record.parent.mkdir(parents=True, exist_ok=True)
    log.info("Making the notebook record: running the guided notebook on a demo database")
    with tempfile.TemporaryDirectory(prefix="bakemigrate-record-") as folder:
        fresh = Path(folder) / record.name
        try:
            done = subprocess.run(
                [sys.executable, "-m", "bakemigrate", "notebook", "--workdir", str(Path(folder) / "work"),
                 "--output", str(fresh)],
                cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=RECORD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise PluginError(f"the notebook record took over {RECORD_TIMEOUT} s; not built") from None
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if done.returncode != 0 or not fresh.is_file():
            last = lines[-1] if lines else "no output"
            raise PluginError(f"the notebook record could not be made (exit {done.returncode}): {last}")
        partial = record.with_name(f".{record.stem}.partial{record.suffix}")
        shutil.copyfile(fresh, partial)
        os.replace(partial, record)
    log.info("Notebook record kept in %s", record)


def notebook_record(root: Path) -> Path:
    """The executed record of the checkout at `root`, made first when missing or out of date."""
    record = _record_cache(root) / RECORD_URI
    sources = [path for path in _record_sources(root) if path.is_file()]
    if not (root / NOTEBOOK).is_file():
        raise PluginError(f"{root / NOTEBOOK}: the guided notebook is missing; the record cannot be made")
    newest = max(path.stat().st_mtime for path in sources)
    if not record.is_file() or record.stat().st_mtime < newest:
        make_notebook_record(root, record)
    return record


def _root(config) -> Path:  # noqa: ANN001
    return Path(config.config_file_path).resolve().parent


@event_priority(50)  # before mkdocs-jupyter turns notebooks into pages
def on_files(files: Files, config) -> Files:  # noqa: ANN001
    """Add the executed notebook record to the site's files (never to the source tree).

    A file at that place in `docs/` (left by an older way of building) is not used.
    """
    left = files.get_file_from_path(RECORD_URI)
    if left is not None:
        files.remove(left)
    record = notebook_record(_root(config))
    # a plain file whose source folder is the cache (mkdocs-jupyter reads it from there)
    cache = record.parents[len(Path(RECORD_URI).parts) - 1]
    files.append(File(RECORD_URI, src_dir=str(cache), dest_dir=config.site_dir,
                      use_directory_urls=config.use_directory_urls))
    return files


def on_serve(server, config, builder):  # noqa: ANN001, ANN201
    """`mkdocs serve` also rebuilds when the guided notebook changes."""
    notebook = _root(config) / NOTEBOOK
    if notebook.is_file():
        server.watch(str(notebook))
    return server
