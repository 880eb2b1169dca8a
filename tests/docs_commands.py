"""Find and run the command blocks of the guide, so the pages cannot drift from the real tool.

Conventions in the Markdown pages (HTML comments, invisible on the site):

- every fenced ``bash`` block is run, in order, in one sandbox folder per page;
- ``<!-- not-run: REASON -->`` right before a block skips it (the reason is required);
- ``<!-- exit: N -->`` right before a block says it must exit with code N (default 0);
- ``<!-- output -->`` right before a ``text`` block says it is the real output of the command
  block above it: each of its non-blank lines must appear, in order, in what that command printed
  (a ``…`` in a shown line stands for text that changes from run to run, such as a time);
- ``<!-- setup: COMMAND -->`` anywhere in a page runs COMMAND in the sandbox before its blocks.

The sandbox holds ``data/bake_tracker.db``, a copy of the real v0.6 fixture database, as the app
keeps it in development mode, another copy in ``home/Documents/BakeTracker/`` (``HOME``), where the
app keeps it for a baker, and a ``bin/`` folder first on PATH where ``bakemigrate`` and ``python`` run the
interpreter and package under test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fixture_paths import FIXTURES

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
COMMAND_LANGUAGES = {"bash", "sh", "shell", "console"}
# Pages written elsewhere and not part of the step-by-step guide.
NOT_SCANNED = {"format-reference.md"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)[^\n]*$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<name>not-run|exit|output|setup)\s*(?::\s*(?P<value>.*?))?\s*-->\s*$")


@dataclass
class Block:
    """One fenced block of a page and the markers written right before it."""

    page: str
    line: int
    lang: str
    text: str
    not_run: str | None = None
    exit_code: int = 0
    is_output: bool = False


@dataclass
class CommandStep:
    """A command block to run, with the output the page shows for it (if any)."""

    block: Block
    shown_output: list[str] = field(default_factory=list)


@dataclass
class Page:
    """The runnable content of one Markdown page."""

    path: Path
    setup: list[str]
    blocks: list[Block]

    @property
    def steps(self) -> list[CommandStep]:
        steps: list[CommandStep] = []
        for block in self.blocks:
            if block.lang in COMMAND_LANGUAGES and block.not_run is None:
                steps.append(CommandStep(block))
            elif block.is_output:
                if not steps:
                    raise ValueError(f"{block.page}:{block.line}: output block with no command before it")
                steps[-1].shown_output.extend(block.text.splitlines())
        return steps


def guide_pages() -> list[Path]:
    """Every Markdown page of the site whose commands must run."""
    return sorted(p for p in DOCS.rglob("*.md") if p.name not in NOT_SCANNED)


def parse_page(path: Path) -> Page:
    """Read the fenced blocks and markers of one page."""
    rel = str(path.relative_to(DOCS))
    lines = path.read_text(encoding="utf-8").splitlines()
    setup: list[str] = []
    blocks: list[Block] = []
    pending: dict[str, str | None] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = _MARKER.match(line)
        fence = _FENCE.match(line)
        if marker:
            name, value = marker["name"], marker["value"]
            if name == "setup":
                if not value:
                    raise ValueError(f"{rel}:{i + 1}: setup marker without a command")
                setup.append(value)
            else:
                if name == "not-run" and not value:
                    raise ValueError(f"{rel}:{i + 1}: not-run marker without a reason")
                pending[name] = value
        elif fence:
            indent, closing = fence["indent"], fence["fence"]
            body: list[str] = []
            j = i + 1
            while j < len(lines) and lines[j].strip() != closing:
                body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
                j += 1
            blocks.append(
                Block(
                    page=rel,
                    line=i + 1,
                    lang=fence["lang"].lower(),
                    text="\n".join(body),
                    not_run=pending.get("not-run"),
                    exit_code=int(pending["exit"]) if pending.get("exit") else 0,
                    is_output="output" in pending,
                )
            )
            pending = {}
            i = j
        elif line.strip():
            pending = {}
        i += 1
    return Page(path=path, setup=setup, blocks=blocks)


def make_sandbox(root: Path) -> dict[str, str]:
    """Lay out the sandbox in ``root`` and return the environment to run commands with."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy2(FIXTURES / "bake_tracker.db", root / "data" / "bake_tracker.db")
    # where the app itself keeps it (production mode), in the sandbox's own home folder
    (root / "home" / "Documents" / "BakeTracker").mkdir(parents=True, exist_ok=True)
    shutil.copy2(FIXTURES / "bake_tracker.db", root / "home" / "Documents" / "BakeTracker" / "bake_tracker.db")
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    shims = {
        "bakemigrate": f'exec "{sys.executable}" -m bakemigrate "$@"',
        "python": f'exec "{sys.executable}" "$@"',
    }
    for name, body in shims.items():
        shim = bin_dir / name
        shim.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        shim.chmod(0o755)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep),
        COLUMNS="100",
        NO_COLOR="1",
        TERM="dumb",
        HOME=str(root / "home"),
        USERPROFILE=str(root / "home"),
    )
    env.pop("BAKING_TRACKER_ENV", None)
    return env


@dataclass
class RunResult:
    step: CommandStep
    returncode: int
    output: str

    def problems(self) -> list[str]:
        """What differs from what the page promises (empty when all agrees)."""
        where = f"{self.step.block.page}:{self.step.block.line}"
        found: list[str] = []
        if self.returncode != self.step.block.exit_code:
            found.append(
                f"{where}: exit code {self.returncode}, the page expects {self.step.block.exit_code}\n"
                f"{self.output}"
            )
        missing = missing_lines(self.step.shown_output, self.output)
        if missing:
            found.append(f"{where}: shown output not printed: {missing!r}\n--- printed ---\n{self.output}")
        return found


def line_pattern(shown: str) -> re.Pattern[str]:
    """A shown output line as a pattern: ``…`` matches anything, runs of spaces match any spacing."""
    parts = [re.escape(part) for part in shown.strip().split("…")]
    text = ".*?".join(parts)
    text = re.sub(r"(\\ )+", r"\\s+", text)
    return re.compile(text)


def missing_lines(shown: list[str], output: str) -> list[str]:
    """The shown lines that do not appear, in order, in the real output."""
    real = [line.strip() for line in output.splitlines()]
    missing: list[str] = []
    position = 0
    for line in shown:
        if not line.strip():
            continue
        pattern = line_pattern(line)
        for k in range(position, len(real)):
            if pattern.fullmatch(real[k]):
                position = k + 1
                break
        else:
            missing.append(line.strip())
    return missing


def run_page(page: Page, root: Path, timeout: int = 900) -> list[RunResult]:
    """Run a page's setup and command blocks in a fresh sandbox under ``root``."""
    env = make_sandbox(root)
    for command in page.setup:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", command], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{page.path.name}: setup {command!r} failed:\n{done.stdout}")
    results = []
    for step in page.steps:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", step.block.text], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )
        results.append(RunResult(step, done.returncode, done.stdout))
    return results


def main(argv: list[str]) -> int:
    """Run the blocks of the pages given (or all) and print what each printed: a writing aid."""
    import tempfile

    paths = [Path(a).resolve() for a in argv] or guide_pages()
    status = 0
    for path in paths:
        page = parse_page(path)
        with tempfile.TemporaryDirectory() as tmp:
            for result in run_page(page, Path(tmp)):
                print(f"===== {result.step.block.page}:{result.step.block.line} (exit {result.returncode})")
                print(f"$ {result.step.block.text}")
                print(result.output)
                for problem in result.problems():
                    status = 1
                    print(f"!!!!! {problem.splitlines()[0]}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
