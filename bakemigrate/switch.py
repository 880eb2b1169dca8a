"""Step 7, switch: put the verified v0.7 database in place of the original, in one atomic rename."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .db import ensure_not_in_use, sha256_file
from .errors import DatabaseRefused, MigrationError
from .jsonio import fsync_dir


@dataclass
class SwitchResult:
    """What the switch did."""

    db: Path
    switched: bool
    sha256: str | None = None
    reason: str = ""

    def summary_line(self) -> str:
        """One line for the terminal."""
        if self.switched:
            return f"switched: {self.db} is now the migrated v0.7 database (sha256 {self.sha256[:16]}…)"
        return f"not switched: {self.reason}"


def remove_sidecar_files(db: Path) -> None:
    """Delete an idle database's empty ``-wal`` and its ``-shm`` so they cannot pair with a new file."""
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db}{suffix}").unlink()


def _beside(db: Path, new_file: Path) -> Path:
    """``new_file`` itself when it is on ``db``'s filesystem, else a checked copy of it beside ``db``.

    A rename cannot cross filesystems (a work folder on another disk), so the copy is what is renamed.
    """
    if new_file.parent.resolve().stat().st_dev == db.parent.resolve().stat().st_dev:
        return new_file
    copy = db.with_name(f".{db.name}.switch")
    shutil.copyfile(new_file, copy)
    with open(copy, "rb+") as fh:
        os.fsync(fh.fileno())
    if sha256_file(copy) != sha256_file(new_file):
        copy.unlink()
        raise MigrationError(f"{copy}: the copy beside the database is not equal to {new_file}; nothing was switched")
    return copy


def replace_database(db: Path, new_file: Path) -> str:
    """Atomically rename ``new_file`` over ``db`` (made durable first); return the new SHA-256."""
    with open(new_file, "rb+") as fh:
        os.fsync(fh.fileno())
    ensure_not_in_use(db)
    source = _beside(db, new_file)
    try:
        remove_sidecar_files(db)
        os.replace(source, db)
    finally:
        if source != new_file:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()
    fsync_dir(db.parent)
    return sha256_file(db)


def switch(
    db: str | os.PathLike[str],
    staging: str | os.PathLike[str],
    *,
    original_sha256: str | tuple[str, ...],
    staging_sha256: str,
) -> SwitchResult:
    """Replace ``db`` with ``staging`` once both are proven to be what was backed up and verified.

    ``original_sha256`` is the checksum (or the checksums) the database may have: the one it had at
    the backup, or the backup's own after a rollback.

    Raises:
        DatabaseRefused: the app is open, or the database changed since the backup.
        MigrationError: the staging database is missing or changed since it was verified.
    """
    target, source = Path(db), Path(staging)
    if not source.exists():
        raise MigrationError(f"{source}: the verified staging database is missing; run the migration again")
    for leftover in ("-wal", "-journal"):
        if Path(f"{source}{leftover}").exists():
            raise MigrationError(f"{source}: is still being written ({source.name}{leftover} exists)")
    if sha256_file(source) != staging_sha256:
        raise MigrationError(f"{source}: changed after it was verified; run the migration again")
    ensure_not_in_use(target)
    accepted = (original_sha256,) if isinstance(original_sha256, str) else original_sha256
    if sha256_file(target) not in accepted:
        raise DatabaseRefused(
            f"{target}: changed since the backup (was bake-tracker used?); "
            "nothing was switched, run the migration again with a new work folder"
        )
    return SwitchResult(db=target, switched=True, sha256=replace_database(target, source))
