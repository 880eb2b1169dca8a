"""Shared test fixtures: copies of the real bake-tracker v0.6 files, demo databases, the CLI."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixture_paths import FIXTURES, REPO


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="run the long trials too (always on in CI: when CI is set to true or 1)")


def long_trials_wanted(config: pytest.Config) -> bool:
    """True with `--slow`, and in CI (`CI=true`, as `.ci/run` and CI services set it): CI runs every test."""
    return bool(config.getoption("--slow")) or os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if long_trials_wanted(config):
        return
    skip = pytest.mark.skip(reason="long trial: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _copy(name: str, folder: Path) -> Path:
    source = FIXTURES / name
    if not source.exists():
        pytest.fail(f"fixture missing: {source}")
    target = folder / name
    shutil.copyfile(source, target)
    os.chmod(target, 0o644)
    return target


@pytest.fixture
def fixture_db(tmp_path: Path) -> Path:
    """A writable copy of the app-made v0.6 database (60 runs)."""
    return _copy("bake_tracker.db", tmp_path)


@pytest.fixture
def fixture_export(tmp_path: Path) -> Path:
    """A copy of the app's own v1.0 export of the fixture database."""
    return _copy("production_history_v1.0.json", tmp_path)


@pytest.fixture
def fixture_full_backup(tmp_path: Path) -> Path:
    """A copy of the app's "Export All" v3.4 file."""
    return _copy("export_all_v3.4.json", tmp_path)


@dataclass(frozen=True)
class VerifiedMigration:
    """The fixture database migrated up to a passed verify, not switched: every file the switch would use."""

    db: Path
    workdir: Path
    export_v10: Path
    export_v11: Path
    staging: Path


@pytest.fixture(scope="session")
def verified_fixture(tmp_path_factory: pytest.TempPathFactory) -> VerifiedMigration:
    """One verified migration of the fixture database per test session; copy its files before changing them."""
    from bakemigrate.pipeline import Migration

    db = _copy("bake_tracker.db", tmp_path_factory.mktemp("verified"))
    migration = Migration(db, db.parent / "work", progress=False)
    migration.backup()
    assert migration.verify().passed
    return VerifiedMigration(db, migration.workdir, migration.export_v10, migration.export_v11, migration.staging)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo database per test session (default size, seed 1); copy it before changing it."""
    from bakemigrate.demo import demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    demo(path, runs=200, seed=1)
    return path


@pytest.fixture
def demo_db(tmp_path: Path, demo_template: Path) -> Path:
    """A writable copy of the session's demo database."""
    target = tmp_path / "bake_tracker.db"
    shutil.copyfile(demo_template, target)
    return target


def run_cli(*args: str | os.PathLike[str], input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bakemigrate ARGS`` as a real process and capture its output.

    The right tool only where the process itself is what is tested: the ``python -m bakemigrate``
    entry point, what a process prints when it fails (never a traceback), signals and kills, other
    processes at the same time, start-up time, the docs' commands. Everything else goes through the
    `cli` fixture, which runs the same command line in this process (`run_main`).
    """
    return subprocess.run(
        [sys.executable, "-m", "bakemigrate", *map(str, args)],
        capture_output=True,
        text=True,
        input=input_text,
        cwd=REPO,
        timeout=600,
    )


@dataclass(frozen=True)
class Ran:
    """What one command did, as `run_cli` reports it: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_main(*args: str | os.PathLike[str], input_text: str | None = None, cwd: Path = REPO) -> Ran:
    """Run ``bakemigrate ARGS`` in this process through `bakemigrate.cli.main`, as a process started by
    `run_cli` would see it: ``cwd`` (the repository) as the current folder, 80 columns (`COLUMNS`, which is all
    a process whose output is a pipe measures), ``input_text`` (or nothing) on a standard input that is
    not a terminal, standard output and error captured, an argparse exit (`--help`, a usage error)
    taken as its exit code."""
    from bakemigrate.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = os.getcwd(), os.environ.get("COLUMNS"), sys.stdin
    os.chdir(cwd)
    os.environ["COLUMNS"] = "80"
    sys.stdin = io.StringIO(input_text or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([os.fspath(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    finally:
        os.chdir(saved[0])
        if saved[1] is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved[1]
        sys.stdin = saved[2]
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    """The command line run in this process (`run_main`); `run_cli` where a real process is tested."""
    return run_main


@pytest.fixture
def process_cli():
    """The :func:`run_cli` helper: the command line in a real process."""
    return run_cli
