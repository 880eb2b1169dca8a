"""Find the database bake-tracker itself would open, by the app's own rules.

bake-tracker resolves its database in `src/utils/config.py` (the same at v0.6 and v0.7):

- `BAKING_TRACKER_ENV` unset or `production` (what a baker runs): `~/Documents/BakeTracker/bake_tracker.db`,
  with `~` the home folder (`os.path.expanduser("~")` on Windows). A redirected Documents folder is not
  followed: the app does not follow it either.
- `BAKING_TRACKER_ENV=development`: `<app folder>/data/bake_tracker.db`, the app folder being the one that
  holds `run.py` and `src/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DatabaseRefused, MigrationError

DB_NAME = "bake_tracker.db"
WORK_FOLDER_NAME = "bakemigrate-work"
DEMO_WORK_FOLDER = "bakemigrate-demo-work"
"""The work folder of a rehearsal on a demo database (no database given), in the current folder."""
ENV_VARIABLE = "BAKING_TRACKER_ENV"


class DatabaseNotFound(MigrationError):
    """No database where the app keeps it (exit 2)."""


@dataclass
class Location:
    """Where the app keeps its database, and what is there."""

    path: Path
    mode: str
    """`production` or `development`, as the app's `BAKING_TRACKER_ENV` chooses."""
    looked_at: list[Path] = field(default_factory=list)
    """Every place looked at, the app's own path first."""
    exists: bool = False
    version: str | None = None
    """`0.6`, `0.7`, `0.7-opened` style label from the inspection, or None when not readable."""
    size_bytes: int = 0
    runs: int | None = None
    problem: str | None = None
    """Why the file could not be inspected, when it could not."""

    def as_dict(self) -> dict[str, Any]:
        """The location as plain JSON-ready values."""
        return {
            "path": str(self.path),
            "mode": self.mode,
            "exists": self.exists,
            "version": self.version,
            "size_bytes": self.size_bytes,
            "production_runs": self.runs,
            "problem": self.problem,
            "looked_at": [str(p) for p in self.looked_at],
        }

    def summary_line(self) -> str:
        """One line for the terminal."""
        if not self.exists:
            return f"{self.path}: no database here ({self.mode} mode)"
        if self.problem:
            return f"{self.path}: {self.problem}"
        runs = f", {self.runs:,} production runs" if self.runs is not None else ""
        return f"{self.path}: bake-tracker v{self.version}, {self.size_bytes / 1e6:,.1f} MB{runs} ({self.mode} mode)"


def home_folder(*, windows: bool | None = None) -> Path:
    """The home folder as the app computes it (`Path.home()`, or `expanduser("~")` on Windows)."""
    windows = os.name == "nt" if windows is None else windows
    if windows:
        return Path(os.path.expanduser("~"))
    return Path.home()


def app_database_path(app_dir: str | os.PathLike[str] | None = None, *, environ: dict[str, str] | None = None) -> tuple[
    Path, str
]:
    """The path the app would open and its mode, without touching the file.

    `app_dir` is the app's folder (the one holding `run.py` and `src/`), needed in development mode.

    Raises:
        DatabaseNotFound: development mode without an app folder, or an unknown mode.
    """
    env = os.environ if environ is None else environ
    mode = (env.get(ENV_VARIABLE) or "production").strip().lower()
    if mode == "production":
        return home_folder() / "Documents" / "BakeTracker" / DB_NAME, mode
    if mode == "development":
        if app_dir is None:
            raise DatabaseNotFound(
                f"{ENV_VARIABLE}=development: the app keeps its database in <app folder>/data/{DB_NAME}; "
                "pass the app's folder with --app-dir DIR, or the database itself as DB"
            )
        return Path(app_dir) / "data" / DB_NAME, mode
    raise DatabaseNotFound(f"{ENV_VARIABLE}={mode!r}: bake-tracker knows only 'production' and 'development'")


def locate(app_dir: str | os.PathLike[str] | None = None) -> Location:
    """Where the app keeps its database and what is there (version, size, runs); reads only."""
    from .db import inspect_database

    path, mode = app_database_path(app_dir)
    looked = [path]
    if mode == "production" and app_dir is not None:
        # the app ignores its folder in production mode; a database there is a development one
        looked.append(Path(app_dir) / "data" / DB_NAME)
    found = Location(path=path, mode=mode, looked_at=looked)
    if not path.is_file():
        return found
    found.exists = True
    found.size_bytes = path.stat().st_size
    try:
        info = inspect_database(path, integrity=False)
    except DatabaseRefused as exc:
        found.problem = str(exc)
        return found
    found.version = str(info.schema_version)
    found.runs = info.runs
    return found


def located_database(app_dir: str | os.PathLike[str] | None = None) -> Path:
    """The app's database when there is one, for commands whose DB was omitted.

    Raises:
        DatabaseNotFound: nothing there; the message names each place looked at and how to pass a path.
    """
    found = locate(app_dir)
    if found.exists:
        return found.path
    raise not_found(found)


def not_found(found: Location) -> DatabaseNotFound:
    """The refusal for a location with no database: each place looked at, and how to pass a path."""
    places = " and ".join(str(p) for p in found.looked_at)
    return DatabaseNotFound(
        f"no bake-tracker database at {places}; pass its path as DB "
        f"(or, for an app run with {ENV_VARIABLE}=development, --app-dir DIR)"
    )


def default_workdir(db: str | os.PathLike[str]) -> Path:
    """The work folder of `db` when none is given: `bakemigrate-work` beside it, whatever the current folder.

    The CLI, the notebook and a later rollback therefore all find the same journal and backup.
    """
    return Path(os.path.abspath(db)).parent / WORK_FOLDER_NAME


def work_folder(db: str | os.PathLike[str] | None, workdir: str | os.PathLike[str] | None) -> Path:
    """The work folder to use: `workdir` when given, else the default of `db` (or of a demo rehearsal)."""
    if workdir is not None:
        return Path(workdir)
    return default_workdir(db) if db is not None else Path(DEMO_WORK_FOLDER)
