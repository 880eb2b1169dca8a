"""Rollback: put the pre-migration backup back in place, and prove it equals the original."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .backup import BackupResult, verify_backup
from .db import sha256_file
from .errors import MigrationError
from .switch import replace_database


@dataclass
class RollbackResult:
    """What the rollback did."""

    db: Path
    backup: Path
    restored: bool
    sha256: str

    def summary_line(self) -> str:
        """One line for the terminal."""
        if not self.restored:
            return f"rollback: {self.db} already is the pre-migration database; nothing to do"
        return (
            f"rolled back: {self.db} is the pre-migration database again "
            f"(restored from {self.backup}, content proven equal)"
        )


def rollback(db: str | os.PathLike[str], backup: BackupResult) -> RollbackResult:
    """Restore ``backup`` over ``db`` through a checked copy and an atomic rename.

    Raises:
        MigrationError: the backup is damaged, or the restored file is not equal to it.
        DatabaseRefused: the app has the database open.
    """
    target = Path(db)
    verify_backup(backup)
    if target.exists() and sha256_file(target) in (backup.original_sha256, backup.sha256):
        return RollbackResult(db=target, backup=backup.path, restored=False, sha256=sha256_file(target))
    if not target.parent.is_dir():
        raise MigrationError(f"{target}: the folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.rollback")
    try:
        shutil.copyfile(backup.path, partial)
        if sha256_file(partial) != backup.sha256:
            raise MigrationError(f"{partial}: the copy of the backup is not equal to it; nothing was changed")
        if target.exists():
            digest = replace_database(target, partial)
        else:
            os.replace(partial, target)
            digest = sha256_file(target)
    except OSError as exc:
        raise MigrationError(f"{target}: cannot restore the backup ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    if digest != backup.sha256:
        raise MigrationError(f"{target}: the restored database is not equal to the backup")
    return RollbackResult(db=target, backup=backup.path, restored=True, sha256=digest)
