"""Step 4, reset: a v0.7 staging database — a copy of the original whose production tables are
recreated, empty, exactly as bake-tracker v0.7 creates them. The original is not touched."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .db import DatabaseInfo, copy_database, inspect_database
from .errors import MigrationError
from .files import partial_path, rename_over, temporary_beside
from .paths import app_database, refuse_output_over, same_file
from .schema_objects import production_user_objects
from .tables import PRODUCTION_TABLES_V07, v07_ddl


@dataclass
class ResetResult:
    """The staging database that is ready for the import."""

    path: Path
    source: Path
    kept_tables: int

    def summary_line(self) -> str:
        """One line for the terminal."""
        return (
            f"staging database {self.path}: {self.kept_tables} tables copied unchanged, "
            "production tables recreated empty in v0.7 shape"
        )


def create_v07_production_tables(conn: sqlite3.Connection) -> None:
    """Drop the v0.6 production tables of the database open on ``conn`` and create the v0.7 ones (the
    statements of `v07_ddl`).

    The empty ``production_losses`` that bake-tracker 0.7 adds to a v0.6 file it opens is dropped too,
    so that file is rebuilt exactly as a v0.6 file that 0.7 never opened. The database's own indexes
    and triggers on the production tables are created again on the v0.7 tables, word for word.
    """
    conn.execute("PRAGMA foreign_keys=OFF")  # dropping a parent table must not cascade
    # The file is a temporary copy, thrown away if anything fails: no journal, no fsync here.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    own = production_user_objects(conn)
    for name in reversed(PRODUCTION_TABLES_V07):
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    for statement in v07_ddl().values():  # what bake-tracker 0.7's create_all sends
        conn.execute(statement)
    for obj in own:  # the database's own indexes and triggers on them, word for word
        conn.execute(obj.sql)
    conn.execute("COMMIT")


def reset(
    db: str | os.PathLike[str], staging: str | os.PathLike[str], *, force: bool = False,
    inspected: DatabaseInfo | None = None,
) -> ResetResult:
    """Build ``staging`` from ``db``: every table copied, production tables recreated empty at v0.7.

    The staging file is built under a temporary name and renamed when complete. ``inspected`` is
    the look a run has already taken at the data of ``db`` (the migration's preflight, of the
    database ``db`` is the checked backup of): it is not taken again.

    Raises:
        DatabaseRefused: ``db`` is not a sound bake-tracker v0.6 database.
        MigrationError: ``staging`` exists (without ``force``) or cannot be written.
    """
    source, target = Path(db), Path(staging)
    info = inspected or inspect_database(source, integrity=False)
    if info.schema_version != "0.6":
        raise MigrationError(f"{source}: already at bake-tracker v0.7; nothing to reset")
    if same_file(target, source):
        raise MigrationError(f"{target}: the staging database must not be the original")
    refuse_output_over(target, [app_database()], "STAGING")
    if target.exists() and not force:
        raise MigrationError(f"{target}: already exists (use --force to replace it)")
    if not target.parent.is_dir():
        raise MigrationError(f"{target}: the folder {target.parent} does not exist")
    try:
        with temporary_beside(target, name=partial_path(target)) as partial:
            # one connection on the new file: the copy, then its production tables made again
            copy_database(source, partial, then=lambda conn: create_v07_production_tables(conn))
            rename_over(partial, target)
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"{target}: cannot build the staging database ({exc})") from None
    except OSError as exc:
        raise MigrationError(f"{target}: cannot build the staging database ({exc.strerror or exc})") from None
    kept = len([t for t in info.row_counts if t not in PRODUCTION_TABLES_V07])
    return ResetResult(path=target, source=source, kept_tables=kept)
