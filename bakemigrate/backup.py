"""Step 1, backup: a consistent, checked copy of the database with a SHA-256 manifest."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .db import DatabaseInfo, copy_database, ensure_not_in_use, inspect_database, sha256_file, unsaved_wal
from .errors import DatabaseRefused, MigrationError
from .files import fsync_file, partial_path, rename_over, temporary_beside
from .jsonio import load_json, write_json_atomic
from .lock import hold, hold_database, holds
from .paths import keep_mode_and_owner, make_private_folder, real_database, refuse_work_folder_holding
from .progress import progress_bar

BACKUP_FOLDER = "backup"
MANIFEST_NAME = "manifest.json"


@dataclass
class BackupResult:
    """Where the backup is and the facts that prove it later."""

    path: Path
    manifest_path: Path
    sha256: str
    original_sha256: str
    original_size: int
    schema_version: str
    runs: int
    created_at: str
    original_wal_sha256: str | None = None
    """The SHA-256 of the `-wal` a stopped app left beside the original (its changes are in the backup)."""

    def summary_line(self) -> str:
        """One line for the terminal."""
        return (
            f"backup {self.path}: integrity ok, {self.runs} production runs, "
            f"sha256 {self.sha256[:16]}…"
        )


def backup_paths(db: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The backup file and its manifest for ``db`` in ``workdir``."""
    folder = Path(workdir) / BACKUP_FOLDER
    return folder / Path(db).name, folder / MANIFEST_NAME


def read_manifest(db: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> BackupResult | None:
    """The backup recorded in ``workdir`` (None when there is none yet)."""
    _, manifest = backup_paths(db, workdir)
    if not manifest.exists():
        return None
    data = load_json(manifest)
    try:
        data["path"], data["manifest_path"] = Path(data["path"]), Path(data["manifest_path"])
        return BackupResult(**data)
    except (TypeError, KeyError):
        raise MigrationError(f"{manifest}: not a bakemigrate backup manifest") from None


def check_backup_checksum(result: BackupResult) -> None:
    """Check that the backup file is still the one the manifest describes.

    Raises:
        MigrationError: the backup is missing or its checksum changed.
    """
    partial = partial_path(result.path)
    if not result.path.exists() and partial.exists() and sha256_file(partial) == result.sha256:
        os.replace(partial, result.path)  # finish a rename that a crash interrupted
    if not result.path.exists():
        raise MigrationError(f"{result.path}: the backup is missing")
    if sha256_file(result.path) != result.sha256:
        raise MigrationError(f"{result.path}: the backup's checksum does not match its manifest")


def _wal_sha256(db: Path) -> str | None:
    """The SHA-256 of the changes a stopped app left in `db`'s `-wal`, or None when there are none."""
    wal = unsaved_wal(db)
    return sha256_file(wal) if wal is not None else None


def kept_backup(db: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> BackupResult | None:
    """The backup already in `workdir`, checked (None when there is none yet).

    Raises:
        MigrationError: the backup is damaged, or the database changed since it was made.
    """
    source = Path(db)
    existing = read_manifest(source, workdir)
    if existing is None:
        return None
    check_backup_checksum(existing)
    if source.exists() and existing.schema_version == "0.6" and sha256_file(source) not in (
        existing.original_sha256,
        existing.sha256,
    ):
        if inspect_database(source, integrity=False).schema_version == "0.6":
            raise MigrationError(
                f"{source}: changed since the backup in {Path(workdir)} was made; use a new work folder"
            )
    return existing


def backup(
    db: str | os.PathLike[str], workdir: str | os.PathLike[str], *, progress: bool = True,
    inspected: DatabaseInfo | None = None, alongside: Callable[[Path], object] | None = None,
) -> BackupResult:
    """Copy ``db`` into ``workdir/backup/`` through SQLite's online backup API and record a manifest.

    The copy is checked with ``PRAGMA integrity_check``; the manifest holds its SHA-256 (a rollback
    restores exactly these bytes) and the SHA-256 of the original file (to notice later if the app
    changed it).
    A backup already in ``workdir`` is never overwritten: it is checked and returned.
    ``inspected`` is the look at ``db`` a run has just taken, under the same locks, with the app
    found closed (the migration's preflight): neither is done again.
    ``alongside`` is work that reads the new copy while its integrity check runs (the migration's
    export, which uses one core where the check uses the other): it is given the copy's path, before
    the copy is vouched for and renamed into place. When the check then fails, the refusal is raised
    all the same, and what ``alongside`` wrote is the caller's to remove. It is not called for a
    backup kept from an earlier run.

    Raises:
        DatabaseRefused: the database is missing, broken, not bake-tracker's or in use.
        MigrationError: the backup in ``workdir`` is damaged, or belongs to another state of the file.
    """
    source = real_database(db)
    with hold_database(source, workdir):  # refused at once while another run holds the work folder or `db`
        return _backup(source, workdir, progress=progress, inspected=inspected, alongside=alongside)


def _backup(source: Path, workdir: str | os.PathLike[str], *, progress: bool,
            inspected: DatabaseInfo | None, alongside: Callable[[Path], object] | None) -> BackupResult:
    """`backup`, the database's lock held."""
    refuse_work_folder_holding(source, workdir)
    alone = holds(Path(workdir))  # this run holds the work folder already: no other run can add a backup
    existing = kept_backup(source, workdir)
    if existing is not None:
        return existing
    info = inspected
    if info is None:
        info = inspect_database(source, integrity=False)  # the copy's integrity_check below covers it
        ensure_not_in_use(source)
    with hold(workdir, source):
        made = None if alone else read_manifest(source, workdir)  # by a run that held the lock until a moment ago
        if made is not None:
            return made
        return _write_backup(source, workdir, info, progress=progress, alongside=alongside)


def _write_backup(source: Path, workdir: str | os.PathLike[str], info: DatabaseInfo, *, progress: bool,
                  alongside: Callable[[Path], object] | None = None) -> BackupResult:
    """The writing part of `backup` (the locks held): copy, check, hash, manifest, rename."""
    target, manifest = backup_paths(source, workdir)
    try:
        make_private_folder(Path(workdir), source)
        target.parent.mkdir(exist_ok=True)
    except OSError as exc:
        raise MigrationError(f"{target.parent}: cannot create the backup folder ({exc.strerror})") from None
    if target.exists():
        raise MigrationError(f"{target}: a backup without a manifest is in the way; use a new work folder")
    original_sha, original_wal = sha256_file(source), _wal_sha256(source)
    try:
        with temporary_beside(target, name=partial_path(target)) as partial:
            with progress_bar("backup", None, enabled=progress) as advance:
                copy_database(source, partial, advance=advance)
            keep_mode_and_owner(source, partial)
            # SQLite's check and the hashing both run without the GIL: side by side on two cores
            with ThreadPoolExecutor(max_workers=1) as pool:
                # a sound copy of a corrupt file: the refusal names the original, which is what is damaged;
                # with work alongside, the check keeps to one core and leaves the other to that work
                checked = pool.submit(inspect_database, partial, label=str(source), side_by_side=alongside is None)
                fsync_file(partial)  # durable before the manifest vouches for it
                source_sha, copy_sha = sha256_file(source), sha256_file(partial)
                if alongside is not None:
                    alongside(partial)
                checked.result()
            if source_sha != original_sha or _wal_sha256(source) != original_wal:
                raise DatabaseRefused(f"{source}: the database changed during the backup; close bake-tracker first")
            result = BackupResult(
                path=target,
                manifest_path=manifest,
                sha256=copy_sha,
                original_sha256=original_sha,
                original_size=source.stat().st_size,
                schema_version=info.schema_version,
                runs=info.runs,
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                original_wal_sha256=original_wal,
            )
            record = asdict(result)
            record["path"], record["manifest_path"] = str(target), str(manifest)
            write_json_atomic(manifest, record)
            rename_over(partial, target)
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"{target}: the backup could not be written ({exc})") from None
    except OSError as exc:
        raise MigrationError(f"{target}: the backup could not be written ({exc.strerror or exc})") from None
    return result


def manifest_text(result: BackupResult) -> str:
    """The manifest as it is stored, for display."""
    return json.dumps({k: str(v) for k, v in asdict(result).items()}, indent=2)
