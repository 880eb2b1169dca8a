"""Build the documentation site as a newcomer does, in a copy of the repository.

The repository's files (what git holds, or the working tree when there is no git) are copied to a
temporary folder with no record of the notebook in it, and the README's Documentation command is
run there. The site's own hook makes the executed notebook record during the build, into a cache
folder of the test's own. The working tree is never written to.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_RECORD = Path("docs") / "notebook" / "migration-record.ipynb"
DOCS_EXTRA_INSTALL = ".venv/bin/pip install -q -e '.[docs]'"


@dataclass
class BuiltSite:
    """Where the site was built, what the build printed, and the copy it was built from."""

    source: Path
    site: Path
    log: str
    returncode: int
    cache: Path
    """The folder the site hook kept the notebook record in."""
    sources_before: list[str]
    sources_after: list[str]
    """Every file of the copy (outside `site/`) before and after the build."""


def readme_docs_commands() -> list[list[str]]:
    """The `mkdocs` arguments of each command in the README's Documentation section, in order.

    Each command installs the `docs` extra into the Quick start's `.venv`, then runs `mkdocs`.
    """
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Documentation\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no Documentation section"
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL):
        install, _, run = block.strip().partition(" && ")
        assert install == DOCS_EXTRA_INSTALL, block
        words = shlex.split(run)
        assert words[0] == ".venv/bin/mkdocs", block
        commands.append(words[1:])
    return commands


def env_for(source: Path, cache: Path) -> dict[str, str]:
    """The environment of a build in `source`: its own package first, the record cache at `cache`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{source}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep)
    env["NO_MKDOCS_2_WARNING"] = "1"
    env["BAKEMIGRATE_SITE_CACHE"] = str(cache)
    return env


def copy_repository(target: Path) -> Path:
    """Copy the files git holds (the working tree's version of them) to `target`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True)
    target.mkdir(parents=True)
    if listed.returncode != 0:  # not a git checkout: the working tree as it is
        shutil.copytree(REPO, target, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".venv", "site", ".git"))
        return target
    for name in filter(None, listed.stdout.split("\0")):
        source = REPO / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the working tree
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target / name)
        else:
            shutil.copy2(source, target / name)
    return target


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and p.relative_to(folder).parts[0] != "site" and "__pycache__" not in p.parts)


def build_site(root: Path) -> BuiltSite:
    """Copy the repository under `root` and run the README's build command there, strictly."""
    source = copy_repository(root / "src")
    assert not (source / NOTEBOOK_RECORD).exists()
    cache = root / "record-cache"
    build = readme_docs_commands()[0]
    assert build[:2] == ["build", "--strict"], build
    before = _files(source)
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", *build], cwd=source, env=env_for(source, cache),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
    )
    return BuiltSite(source=source, site=source / "site", log=done.stdout, returncode=done.returncode,
                     cache=cache, sources_before=before, sources_after=_files(source))


def nav_pages(site: Path) -> list[str]:
    """The URL paths (relative to the site root) of every page listed in the navigation."""
    import yaml  # PyYAML comes with MkDocs

    def walk(entries: list) -> list[str]:
        found: list[str] = []
        for entry in entries:
            target = entry
            if isinstance(entry, dict):
                (target,) = entry.values()
            if isinstance(target, list):
                found += walk(target)
            else:
                found.append(target)
        return found

    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    urls = []
    for doc in walk(config["nav"]):
        stem = doc.rsplit(".", 1)[0]
        if stem == "index" or stem.endswith("/index"):
            urls.append(stem[: -len("index")])
        else:
            urls.append(stem + "/")
    return urls
