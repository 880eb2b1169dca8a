"""Which files are the same file, and the checks that keep every write away from the database.

Two paths name the same file when they lead to the same inode (`os.path.samefile`): this sees
through symbolic links, hard links, `..`, and the letter case of a case-insensitive file system.
Every command that writes checks its outputs against the database it reads (and against the
database bake-tracker itself uses) before it writes anything.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .errors import MigrationError
from .files import partial_path

WORK_FILES = (
    "journal.json", "export_v1.0.json", "export_v1.1.json", "staging.db", "staging.db-journal",
    ".staging.db.partial", "report.json", "report.txt", "backup",
)
"""The files a migration writes in its work folder (besides temporary and timestamped new names)."""


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when `a` and `b` are one file (or folder): same resolved path, or same inode."""
    first, second = Path(a), Path(b)
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        if os.path.normcase(os.path.realpath(first)) == os.path.normcase(os.path.realpath(second)):
            return True
    try:
        return os.path.samefile(first, second)
    except (OSError, ValueError):
        return False


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """The `(st_dev, st_ino)` of what `path` leads to (links followed), or None when it cannot be seen."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def lies_inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """True when `path` lies anywhere inside `folder`, at any depth, or is `folder` itself.

    Compared by file identity (device and inode), not by text: each folder above `path`, as
    written and as its links resolve, is compared with `folder`, so a symbolic link on either
    side, a bind mount and the letter case of a case-insensitive disk all give the same answer.
    """
    wanted = file_identity(folder)
    if wanted is None:
        return False
    places = {Path(os.path.abspath(path)), Path(os.path.realpath(path))}
    return any(file_identity(above) == wanted for place in places for above in (place, *place.parents))


def real_database(db: str | os.PathLike[str]) -> Path:
    """The file a database path leads to: the target of a symbolic link, else the path as given.

    The migration reads, backs up and replaces that file, so a link keeps pointing at it.
    """
    path = Path(db)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def work_files(workdir: Path, db_name: str) -> list[Path]:
    """Every fixed path the migration of a database named `db_name` writes in `workdir`."""
    from .backup import backup_paths  # the backup module reads this one: imported when used

    backup, manifest = backup_paths(db_name, workdir)
    return [workdir / name for name in WORK_FILES] + [backup, manifest, partial_path(backup)]


def refuse_work_folder_holding(db: str | os.PathLike[str], workdir: str | os.PathLike[str]) -> None:
    """Refuse a work folder that holds the database, or any work file that is the database itself.

    The migration writes in the work folder and in its `backup` folder: the database may lie
    nowhere inside either, at any depth, whatever links or mounts lead to it (`lies_inside`).

    Raises:
        MigrationError: one line naming the work folder (or the file) and the database.
    """
    from .backup import backup_paths  # the backup module reads this one: imported when used

    database, folder = Path(db), Path(workdir)
    backup_folder = backup_paths(database, folder)[0].parent
    for candidate in {database, real_database(database)}:
        if not candidate.exists():
            continue
        if lies_inside(candidate, folder) or lies_inside(candidate, backup_folder):  # where it writes
            raise MigrationError(
                f"{folder}: the work folder holds the database {database} itself, and the migration "
                "writes its own files there; choose a work folder outside it (--workdir DIR)"
            )
        for path in work_files(folder, real_database(database).name):
            if path.exists() and same_file(path, candidate):
                raise MigrationError(
                    f"{path}: is the database {database} itself (a link or another name for it), and the "
                    "migration would write over it; choose another work folder (--workdir DIR)"
                )


def refuse_output_over(output: str | os.PathLike[str], protected: Iterable[str | os.PathLike[str] | None],
                       what: str = "OUTPUT") -> None:
    """Refuse an `output` that is one of the `protected` files (the inputs, the app's database).

    Raises:
        MigrationError: `... : OUTPUT is the database ... itself; choose another name`.
    """
    for original in protected:
        if original is not None and Path(original).exists() and same_file(output, original):
            raise MigrationError(f"{output}: {what} is {original} itself, which it would overwrite; "
                                 "choose another name")


def app_database() -> Path | None:
    """The database bake-tracker itself opens, when it can be told without asking (else None)."""
    from .locate import app_database_path

    try:
        return app_database_path()[0]
    except MigrationError:
        return None


def _read_only_file_system(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        return False


def refuse_unwritable_work_folder(workdir: str | os.PathLike[str]) -> None:
    """Refuse a work folder that is a file, lies under a file, or cannot be created or written.

    Nothing is created: the nearest folder that exists is looked at, as the real run would find it.

    Raises:
        MigrationError: the same line a real run would stop with when it first writes there.
    """
    folder = Path(workdir)
    probe = folder
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is a file" if probe == folder else f"is inside {probe}, which is a file"
        raise MigrationError(f"{folder}: {where}, not a folder; choose a work folder with --workdir DIR")
    if not probe.exists():  # a dangling symbolic link
        raise MigrationError(f"{folder}: cannot create the work folder ({probe} is a link to nothing)")
    if not os.access(probe, os.W_OK | os.X_OK):
        reason = "Read-only file system" if _read_only_file_system(probe) else "Permission denied"
        if probe == folder:
            raise MigrationError(f"{folder}: cannot write in the work folder ({reason})")
        raise MigrationError(f"{folder}: cannot create the work folder ({reason})")


def refuse_unwritable_database_folder(db: str | os.PathLike[str]) -> None:
    """Refuse a database whose folder cannot be written: the switch renames the new file there.

    Raises:
        MigrationError: one line naming the folder, the reason and what to do.
    """
    folder = Path(os.path.abspath(db)).parent
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = "Read-only file system" if _read_only_file_system(folder) else "Permission denied"
        raise MigrationError(
            f"{folder}: the database's folder cannot be written ({reason}), and the switch puts the migrated "
            f"file there; make it writable, or copy {Path(db).name} to a folder you can write and migrate the copy"
        )


def keep_mode_and_owner(original: str | os.PathLike[str], copy: str | os.PathLike[str]) -> None:
    """Give `copy` the permission bits of `original`, and its owner and group where this process may.

    A private database (0600) so stays private in its backup, once migrated and once rolled back.
    """
    st = os.stat(original)
    os.chmod(copy, stat.S_IMODE(st.st_mode))
    if hasattr(os, "chown"):
        with contextlib.suppress(OSError):  # only root (or the owner, for the group) may
            os.chown(copy, st.st_uid, st.st_gid)
        os.chmod(copy, stat.S_IMODE(st.st_mode))  # chown may clear set-id bits


def refuse_name_that_is_not_text(path: str | os.PathLike[str]) -> None:
    """Refuse a path whose name holds bytes that are not UTF-8 (it cannot be written in a journal or shown).

    Raises:
        MigrationError: the path, with the odd bytes written as `\\xNN`, and what to do.
    """
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise MigrationError(
            f"{shown}: the name holds bytes that are not text (not UTF-8), which bakemigrate cannot record "
            "in its journal and reports; rename the file or folder with plain letters, then run again"
        ) from None


def make_private_folder(folder: str | os.PathLike[str], like: str | os.PathLike[str]) -> None:
    """Create `folder` (and its parents) readable by those who may read the database `like`, no more.

    The work folder holds the backup, the exports and the staging copy: all of the database's data.
    A folder bakemigrate creates for a 0600 database is 0700 (0640 gives 0750, 0644 gives 0755); a
    folder that already exists is left as it is.

    Raises:
        OSError: the folder cannot be created.
    """
    target = Path(folder)
    if target.is_dir():
        return
    bits = stat.S_IMODE(os.stat(like).st_mode) if Path(like).exists() else 0o644
    mode = 0o700 | (0o050 if bits & 0o040 else 0) | (0o005 if bits & 0o004 else 0)
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        target.mkdir()
        os.chmod(target, mode)
