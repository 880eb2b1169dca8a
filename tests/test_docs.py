"""The documentation site: a strict real build, nothing loaded from outside, and every command the
guide shows run for real with the output it shows."""

from __future__ import annotations

import ast
import dataclasses
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from docs_commands import DOCS, guide_pages, line_pattern, missing_lines, parse_page, run_page
from docs_site import NOTEBOOK_RECORD, build_site, env_for, nav_pages, readme_docs_commands


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    return build_site(tmp_path_factory.mktemp("docs"))


def test_strict_build_is_clean(built) -> None:
    assert built.returncode == 0, built.log
    warnings = [line for line in built.log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert warnings == []


def test_every_navigation_page_is_built(built) -> None:
    assert built.returncode == 0, built.log
    for url in nav_pages(built.site):
        assert (built.site / url / "index.html").is_file(), url


_LOADING_RELS = ("stylesheet", "preload", "preconnect", "icon", "modulepreload", "prefetch")
_CDN_HOSTS = ("fonts.googleapis.com", "fonts.gstatic.com", "cdnjs.cloudflare.com", "unpkg.com", "jsdelivr")


class _AssetCollector(HTMLParser):
    """Collects every URL a page would load by itself (not the links a reader may follow)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in {"script", "img", "iframe", "audio", "video", "source", "embed"} and values.get("src"):
            self.loaded.append(values["src"])
        if tag == "link" and values.get("href"):
            rel = values.get("rel", "").lower()
            if any(word in rel for word in _LOADING_RELS):
                self.loaded.append(values["href"])
        if tag == "object" and values.get("data"):
            self.loaded.append(values["data"])


_EXTERNAL = re.compile(r"^(?:https?:)?//", re.IGNORECASE)
_CSS_EXTERNAL = re.compile(r"(?:@import\s+|url\(\s*)['\"]?(?:https?:)?//", re.IGNORECASE)


def test_site_loads_nothing_from_outside(built) -> None:
    assert built.returncode == 0, built.log
    outside: list[str] = []
    pages = list(built.site.rglob("*.html"))
    assert len(pages) >= 10
    for page in pages:
        html = page.read_text(encoding="utf-8")
        collector = _AssetCollector()
        collector.feed(html)
        outside += [
            f"{page.relative_to(built.site)}: {url!r}"
            for url in collector.loaded
            if _EXTERNAL.match(url) or not url.strip()
        ]
        for host in _CDN_HOSTS:
            if host in html:
                outside.append(f"{page.relative_to(built.site)}: mentions {host}")
    for sheet in built.site.rglob("*.css"):
        if _CSS_EXTERNAL.search(sheet.read_text(encoding="utf-8", errors="replace")):
            outside.append(f"{sheet.relative_to(built.site)}: imports from another host")
    assert outside == []


def test_cli_reference_is_generated_from_the_parser(built) -> None:
    from bakemigrate.cli import build_parser

    html = (built.site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    parser = build_parser()
    subcommands = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"][0].choices
    assert len(subcommands) >= 10
    for name, sub in subcommands.items():
        assert f"usage: bakemigrate {name}" in html, name
        assert sub.description.replace("'", "&#39;") in html or sub.description in html


def test_python_api_reference_documents_the_functions(built) -> None:
    html = (built.site / "reference" / "python" / "index.html").read_text(encoding="utf-8")
    for name in ("transform_v1_0_to_v1_1", "demo", "Migration", "verify"):
        assert name in html, name


# Public names reached through their module: the step functions named like it (the package attribute is
# the module), the loss rules and the registry of steps.
_THROUGH_MODULES = ("backup.backup", "transform.transform", "reset.reset", "demo.demo", "verify.verify",
                   "switch.switch", "rollback.rollback", "loss_rules.v07_loss", "loss_rules.V07Loss", "steps.Step",
                   "steps.STEPS", "steps.PLAN", "steps.step")
# Helpers of the package that are not its API: none may appear on the page.
_INTERNALS = ("gc_paused", "compare_frames", "compare_tables", "Journal", "_free_bytes", "confirm_or_refuse",
              "_recorded_artefact", "own_runs", "jsonstream", "RunsWriter", "table_marks")
# Public-looking members that are not API: the journal of a Migration (its records are read through the steps).
_NOT_API_MEMBERS = {"journal"}
_SPHINX_ROLE = re.compile(r":(?:meth|func|class|attr|mod|data|exc|obj|ref|py:\w+):")


def test_python_api_page_shows_the_public_api_only(built) -> None:
    import bakemigrate

    assert built.returncode == 0, built.log
    html = (built.site / "reference" / "python" / "index.html").read_text(encoding="utf-8")
    article = html[html.index("<article"):html.index("</article>")]
    text = unescape(re.sub(r"<[^>]+>", " ", article))
    public = {f"bakemigrate.{name}" for name in bakemigrate.__all__ if name != "__version__"}
    public |= {f"bakemigrate.{name}" for name in _THROUGH_MODULES}
    headings = set(re.findall(r'<h[2-6][^>]*\bid="(bakemigrate\.[^"]+)"', article))
    assert sorted(public - headings) == []  # each public name has its heading
    for name in bakemigrate.__all__:  # and each public method or property of a class
        cls = getattr(bakemigrate, name)
        if isinstance(cls, type) and not issubclass(cls, Exception):
            members = {m for m, v in vars(cls).items() if not m.startswith("_") and m not in _NOT_API_MEMBERS
                       and (callable(v) or isinstance(v, property))}
            if dataclasses.is_dataclass(cls):
                members |= {f.name for f in dataclasses.fields(cls) if not f.name.startswith("_")}
            assert sorted({f"bakemigrate.{name}.{m}" for m in members} - headings) == [], name
    # and every heading is a public name or one of its members, never a private one
    strays = [h for h in headings if not any(h == p or h.startswith(p + ".") for p in public)
              or any(part.startswith("_") for part in h.split("."))]
    assert strays == []
    assert _SPHINX_ROLE.findall(text) == []
    assert [name for name in _INTERNALS if re.search(rf"\b{name}\b", text)] == []
    # cross-references are links to headings of the page, none left as Markdown text
    targets = re.findall(r'href="#(bakemigrate\.[^"]+)"', article)
    assert "bakemigrate.Migration.run" in targets
    assert sorted(set(targets) - headings) == []
    assert re.findall(r"\]\[bakemigrate\.", text) == []


def test_notebook_record_page_shows_the_executed_notebook(built) -> None:
    html = (built.site / "notebook" / "migration-record" / "index.html").read_text(encoding="utf-8")
    assert "jp-Notebook" in html
    assert "<table" in html  # a rendered DataFrame: the before/after comparison
    assert "Verdict: PASS" in html


def test_the_record_is_made_by_the_build_and_kept_out_of_the_sources(built) -> None:
    assert built.returncode == 0, built.log
    assert "Making the notebook record" in built.log  # the copy had none: the build made it
    assert (built.cache / "notebook" / "migration-record.ipynb").is_file()
    assert built.sources_after == built.sources_before  # nothing written to the copy's sources
    assert not (built.source / NOTEBOOK_RECORD).exists()
    strays = [p.relative_to(built.site) for p in built.site.rglob("*")
              if p.suffix == ".ipynb" or p.name.startswith("migration-record")]
    assert strays == [Path("notebook") / "migration-record"]  # the page's folder, nothing else


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_readme_serve_command_shows_the_record(built) -> None:
    """`mkdocs serve` as the README says, in the same copy (its record is now kept, so it is quick)."""
    assert built.returncode == 0, built.log
    serve = readme_docs_commands()[1]
    assert serve == ["serve"]
    address = f"127.0.0.1:{_free_port()}"
    server = subprocess.Popen([sys.executable, "-m", "mkdocs", *serve, "--dev-addr", address],
                              cwd=built.source, env=env_for(built.source, built.cache),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page, deadline = "", time.monotonic() + 240
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://{address}/notebook/migration-record/", timeout=5) as reply:
                    page = reply.read().decode("utf-8")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    assert "jp-Notebook" in page and "<table" in page, log
    assert "Making the notebook record" not in log  # the kept record was fresh


# ---- every error message has its entry in Troubleshooting ----------------------------------------

_ERRORS = {"MigrationError", "DatabaseRefused", "InvalidDocument", "VerificationFailed"}


def _literal_parts(node: ast.expr) -> list[str] | None:
    """The fixed text of a message expression, with ``{}`` where a value goes in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal_parts(node.left), _literal_parts(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Name):
        return ["{}"]
    return None


def error_message_cores() -> dict[str, str]:
    """For each error raised in the package, its longest fixed piece of text, by source place."""
    import bakemigrate

    cores: dict[str, str] = {}
    for path in sorted(Path(bakemigrate.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in _ERRORS and node.args):
                continue
            parts = _literal_parts(node.args[0])
            assert parts is not None, f"{path.name}:{node.lineno}: message is not a plain text"
            pieces = [piece.strip(" :;,()") for piece in "".join(parts).split("{}")]
            core = max(pieces, key=len)
            if len(core) >= 8:  # "{}: {}" only passes another message on
                cores[f"{path.name}:{node.lineno}"] = core
    return cores


def test_troubleshooting_lists_every_error_message() -> None:
    page = " ".join((DOCS / "troubleshooting.md").read_text(encoding="utf-8").split())
    cores = error_message_cores()
    assert len(cores) >= 40
    missing = {where: core for where, core in cores.items() if " ".join(core.split()) not in page}
    assert missing == {}


def test_cli_error_lines_are_in_troubleshooting() -> None:
    import inspect

    from bakemigrate import cli

    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    printed = re.findall(r'print\(\s*"error: ([^"{]+)', inspect.getsource(cli.main))
    assert printed, "the CLI prints fixed error lines"
    for line in printed:
        assert line.strip() in page, line


# ---- the commands shown in the guide ------------------------------------------------------------

PAGES_WITH_COMMANDS = [p for p in guide_pages() if parse_page(p).steps]


def test_the_guide_has_runnable_commands() -> None:
    names = {str(p.relative_to(DOCS)) for p in PAGES_WITH_COMMANDS}
    assert {"guide/command-line.md", "rollback.md", "troubleshooting.md"} <= names
    steps = parse_page(DOCS / "guide" / "command-line.md").steps
    assert len(steps) >= 8
    assert sum(1 for s in steps if s.shown_output) >= 7


def test_every_command_block_is_run_or_marked_with_a_reason() -> None:
    for path in guide_pages():
        for block in parse_page(path).blocks:
            if block.lang in {"bash", "sh", "shell", "console"} and block.not_run is not None:
                assert len(block.not_run.strip()) >= 10, f"{block.page}:{block.line}: give a real reason"


@pytest.mark.parametrize("page", PAGES_WITH_COMMANDS, ids=lambda p: str(p.relative_to(DOCS)))
def test_guide_commands_run_and_print_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    problems = [problem for result in run_page(parse_page(page), tmp_path) for problem in result.problems()]
    assert problems == [], "\n\n".join(problems)


def test_shown_output_must_really_appear() -> None:
    output = "Backed up data/x.db (2.1 MB) in 0.4 s\nrows: 60\nPASS\n"
    assert missing_lines(["Backed up data/x.db (…) in … s", "PASS"], output) == []
    assert missing_lines(["rows: 61"], output) == ["rows: 61"]
    assert missing_lines(["PASS", "rows: 60"], output) == ["rows: 60"]  # order matters
    assert line_pattern("a  b").fullmatch("a b")


def test_the_record_page_is_a_bakers_view(built) -> None:
    """No injected-parameters cell, no path of the machine that built it, no code, its own title."""
    html = (built.site / "notebook" / "migration-record" / "index.html").read_text(encoding="utf-8")
    assert "injected-parameters" not in html and "injected_parameters" not in html
    for machine in (str(built.source), str(built.cache), tempfile.gettempdir() + "/", str(Path.home())):
        assert machine not in html, machine
    assert "here(globals())" not in html  # the code cells are left out
    assert "Shift+Enter" not in html
    # the nav entry, the page's title and its heading say the same
    assert "<title>A real migration record - " in html
    assert re.search(r"<h1[^>]*>A real migration record<", html)
    assert "Verdict: PASS" in html and "work/backup/bake_tracker.db" in html
