"""The repository is the whole project: its tests, docs, benchmarks and package read nothing beside it."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from fixture_paths import FIXTURES, REFERENCE, REPO

# Ways a path in this repository's code could climb out of it.
OUTSIDE = re.compile(r"REPO\.parent\b|parents\[[2-9]\]|\.parent\.parent\.parent|\.\./shared|[\"']shared[\"']")
SCANNED = ("tests", "docs", "benchmarks", "bakemigrate", "notebooks", ".ci")
# These name a folder beside a checkout only to prove that nothing there is used.
EXEMPT = {Path(__file__).name, "test_ci.py"}


def test_the_test_data_is_inside_the_repository() -> None:
    for name in ("bake_tracker.db", "production_history_v1.0.json", "export_all_v3.4.json", "README.md"):
        assert (FIXTURES / name).is_file(), name
    for name in ("schema_v0.6.sql", "schema_v0.7.sql", "production-tables.md"):
        assert (REFERENCE / name).is_file(), name
    assert FIXTURES.is_relative_to(REPO) and REFERENCE.is_relative_to(REPO)
    assert "a1a3c9a406e292e5434dce42cad6d801a73809d9" in (REPO / "tests" / "fixtures" / "README.md").read_text()


def test_no_code_reads_a_folder_beside_the_repository() -> None:
    offenders = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix not in {".py", ".md", ".yml", ".toml", ".sh", ""} or not path.is_file():
                continue
            if path.name in EXEMPT or "fixtures" in path.relative_to(REPO).parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if OUTSIDE.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_package_data_names_only_files_that_exist() -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[tool\.setuptools\.package-data\]\n(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    assert section
    entries = re.findall(r"^(\w+) = (\[.*\])$", section.group(1), re.MULTILINE)
    assert entries
    for package, listed in entries:
        for pattern in ast.literal_eval(listed):
            assert list((REPO / package).glob(pattern)), f"{package}/{pattern} matches no file"


def test_what_running_the_notebook_leaves_is_ignored_by_git() -> None:
    left = ["notebooks/bakemigrate-work/journal.json", "notebooks/.ipynb_checkpoints/x-checkpoint.ipynb",
            "docs/.ipynb_checkpoints/x-checkpoint.ipynb"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *left], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.split() == left
