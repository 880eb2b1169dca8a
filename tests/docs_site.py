"""Build the documentation site the way a release does, into a temporary folder.

The sources (mkdocs.yml and docs/) are copied first, the guided notebook is run headlessly on a
fresh demo database to produce the executed record shown on the site, then ``mkdocs build
--strict`` runs on the copy. The working tree is never written to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_RECORD = Path("docs") / "notebook" / "migration-record.ipynb"


@dataclass
class BuiltSite:
    """Where the site was built and what the build printed."""

    source: Path
    site: Path
    log: str
    returncode: int


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}".rstrip(os.pathsep)
    env["NO_MKDOCS_2_WARNING"] = "1"
    return env


def make_notebook_record(source: Path, workdir: Path) -> None:
    """Run the guided notebook on a demo database and keep the executed copy in ``source``."""
    output = source / NOTEBOOK_RECORD
    output.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "bakemigrate", "notebook", "--workdir", str(workdir), "--output", str(output)],
        cwd=source, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
    )
    if done.returncode != 0 or not output.is_file():
        raise RuntimeError(f"bakemigrate notebook failed (exit {done.returncode}):\n{done.stdout}")


def build_site(root: Path) -> BuiltSite:
    """Copy the sources under ``root``, produce the notebook record and build the site strictly."""
    source = root / "src"
    source.mkdir(parents=True)
    shutil.copy2(REPO / "mkdocs.yml", source / "mkdocs.yml")
    shutil.copytree(REPO / "docs", source / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    make_notebook_record(source, root / "notebook-work")
    site = root / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", "mkdocs.yml",
         "--site-dir", str(site)],
        cwd=source, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
    )
    return BuiltSite(source=source, site=site, log=done.stdout, returncode=done.returncode)


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
