"""What an interrupted run left: bakemigrate's own temporary files, removed by the next run.

A run stopped by a signal it cannot catch (`kill -9`, a power cut) leaves its temporary files:
a half-written document (``.export_v1.0.json.x1y2z3ab.tmp``), a journal being replaced, a backup
copy not yet renamed (``backup/.bake_tracker.db.partial``), the copy of the migrated database
beside the database (``.bake_tracker.db.switch``) or of the backup (``.bake_tracker.db.rollback``).
The next run that holds the locks (see `lock.hold`) removes exactly those names, nothing else.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from .backup import BACKUP_FOLDER, backup_paths
from .files import TEMPORARY_NAME, partial_path, sidecar_paths
from .rollback import rollback_copy_path
from .switch import switch_copy_path


def leftover_files(workdir: Path, db: Path) -> list[Path]:
    """bakemigrate's temporary files in ``workdir`` and beside ``db`` (none is in use: the caller holds the locks).

    A backup copy that the manifest vouches for but that was not yet renamed is kept: the next
    backup step finishes that rename.
    """
    found = [p for folder in (workdir, workdir / BACKUP_FOLDER) if folder.is_dir()
             for p in sorted(folder.iterdir()) if TEMPORARY_NAME.fullmatch(p.name) and p.is_file()]
    backup, manifest = backup_paths(db, workdir)
    if backup.exists() or not manifest.exists():
        found.append(partial_path(backup))
    found += [switch_copy_path(db), rollback_copy_path(db)]
    return [p for base in found for p in (base, *sidecar_paths(base, ("-journal",))) if p.is_file()]


def remove_leftovers(workdir: Path, db: Path) -> list[Path]:
    """Remove `leftover_files`; return what was removed."""
    removed = []
    for path in leftover_files(workdir, db):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
