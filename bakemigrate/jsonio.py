"""Reading JSON documents strictly and writing files atomically."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import InvalidDocument, MigrationError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file strictly: UTF-8 (a BOM is tolerated), no NaN/Infinity, no duplicate keys.

    Raises:
        InvalidDocument: one line naming the file and what is wrong with it.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InvalidDocument(f"{p}: file not found") from None
    except IsADirectoryError:
        raise InvalidDocument(f"{p}: is a folder, not a file") from None
    except OSError as exc:
        raise InvalidDocument(f"{p}: cannot read ({exc.strerror})") from None
    if not raw.strip():
        raise InvalidDocument(f"{p}: the file is empty")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(f"{p}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        hint = " (the file looks truncated)" if exc.pos >= len(text.rstrip()) else ""
        raise InvalidDocument(f"{p}: not valid JSON at {where}: {exc.msg}{hint}") from None
    except ValueError as exc:
        raise InvalidDocument(f"{p}: not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidDocument(f"{p}: JSON nested too deeply") from None


def dump_json(doc: Any, fh: IO[str]) -> None:
    """Write ``doc`` the way the app writes JSON: indent 2, non-ASCII kept, newline at the end."""
    json.dump(doc, fh, indent=2, ensure_ascii=False, allow_nan=False)
    fh.write("\n")


@contextlib.contextmanager
def temporary_beside(target: Path) -> Iterator[Path]:
    """A fresh temporary path in ``target``'s folder, with the permissions of a normally created
    file; removed (with any SQLite ``-journal``) unless the caller renamed it.

    Raises:
        MigrationError: the folder cannot be written.
    """
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise MigrationError(f"{target}: cannot write in {folder} ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # not mkstemp's 0600
    try:
        yield tmp
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike[str], *, force: bool = False, mode: str = "w"
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was, so a reader never
    sees a half-written file.

    Raises:
        MigrationError: the target exists (without ``force``) or its folder is missing.
    """
    target = Path(path)
    if target.exists() and not force:
        raise MigrationError(f"{target}: already exists (use --force to replace it)")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise MigrationError(f"{target}: the folder {folder} does not exist")
    with temporary_beside(target) as tmp:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(folder)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename inside ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(
    path: str | os.PathLike[str], doc: Any, *, force: bool = False
) -> None:
    """Write ``doc`` as the app does (see `dump_json`) through `atomic_writer`."""
    try:
        with atomic_writer(path, force=force) as fh:
            dump_json(doc, fh)
    except OSError as exc:
        raise MigrationError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise MigrationError(f"{path}: cannot write JSON ({exc})") from None


ProgressCallback = Callable[[int], None]
