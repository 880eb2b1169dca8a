"""Rollback: put the pre-migration backup back in place, and prove it equals the original."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .backup import BackupResult, check_backup_checksum
from .changes import Changes
from .db import copy_database, sha256_file
from .errors import MigrationError
from .files import rename_over, temporary_beside
from .paths import keep_mode_and_owner
from .switch import replace_database

KEPT_PREFIX = "before-rollback-"


@dataclass
class RollbackPlan:
    """What a rollback would do: restore the backup (`needed`) and discard `changes`."""

    db: Path
    backup: Path
    needed: bool
    changes: Changes = field(default_factory=Changes)

    def lines(self) -> list[str]:
        """What a person reads before agreeing."""
        if not self.needed:
            return []
        if not self.changes.file_changed:
            return ["nothing was entered since the switch: the rollback loses nothing"]
        return [f"{self.db} changed since the switch; the rollback replaces it with the pre-migration backup:",
                *self.changes.lines(),
                "the current file is kept as a copy in the work folder first"]


@dataclass
class RollbackResult:
    """What the rollback did."""

    db: Path
    backup: Path
    restored: bool
    sha256: str
    kept: Path | None = None
    """The copy of the database as it was just before the rollback (never overwritten)."""
    changes: Changes = field(default_factory=Changes)

    def summary_line(self) -> str:
        """One line for the terminal."""
        if not self.restored:
            return f"rollback: {self.db} already is the pre-migration database; nothing to do"
        kept = f"; the database as it was is kept in {self.kept}" if self.kept else ""
        return (
            f"rolled back: {self.db} is the pre-migration database again "
            f"(restored from {self.backup}, content proven equal){kept}"
        )


def rollback_copy_path(db: Path) -> Path:
    """The hidden copy of the backup made beside ``db`` before it is renamed over it."""
    return db.with_name(f".{db.name}.rollback")


def keep_copy(db: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> Path:
    """A consistent copy of `db` as it is now, under a new timestamped name in `workdir`."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(workdir)
    target = folder / f"{KEPT_PREFIX}{stamp}.db"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{KEPT_PREFIX}{stamp}-{n}.db"
    with temporary_beside(target) as partial:
        try:
            copy_database(db, partial)
            keep_mode_and_owner(db, partial)  # as private as the database itself
            rename_over(partial, target)
        except OSError as exc:
            raise MigrationError(
                f"{target}: cannot keep a copy of the database ({exc.strerror or exc}); nothing was changed"
            ) from None
    return target


def rollback(db: str | os.PathLike[str], backup: BackupResult) -> RollbackResult:
    """Restore ``backup`` over ``db`` through a checked copy and an atomic rename.

    Raises:
        MigrationError: the backup is damaged, or the restored file is not equal to it.
        DatabaseRefused: the app has the database open.
    """
    target = Path(db)
    check_backup_checksum(backup)
    if target.exists() and sha256_file(target) in (backup.original_sha256, backup.sha256):
        return RollbackResult(db=target, backup=backup.path, restored=False, sha256=sha256_file(target))
    if not target.parent.is_dir():
        raise MigrationError(f"{target}: the folder {target.parent} does not exist")
    try:
        with temporary_beside(target, name=rollback_copy_path(target)) as partial:
            shutil.copyfile(backup.path, partial)
            if sha256_file(partial) != backup.sha256:
                raise MigrationError(f"{partial}: the copy of the backup is not equal to it; nothing was changed")
            if target.exists():
                digest = replace_database(target, partial)
            else:
                keep_mode_and_owner(backup.path, partial)
                rename_over(partial, target)
                digest = sha256_file(target)
    except OSError as exc:
        raise MigrationError(f"{target}: cannot restore the backup ({exc.strerror or exc})") from None
    if digest != backup.sha256:
        raise MigrationError(f"{target}: the restored database is not equal to the backup")
    return RollbackResult(db=target, backup=backup.path, restored=True, sha256=digest)
