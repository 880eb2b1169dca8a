"""Reading JSON documents strictly and writing files atomically."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import InvalidDocument, MigrationError
from .files import rename_over, temporary_beside


class NotStrictJSON(ValueError):
    """Text Python's `json` reads but JSON does not allow: `NaN`/`Infinity`, or a key twice in one object."""


def reject_constant(name: str) -> Any:
    """A `json` ``parse_constant`` hook: `NaN`, `Infinity` and `-Infinity` are not JSON.

    Raises:
        NotStrictJSON: always, naming the literal.
    """
    raise NotStrictJSON(f"{name} is not valid JSON")


def reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A `json` ``object_pairs_hook``: the object of ``pairs``, each key once.

    Raises:
        NotStrictJSON: a key is there twice, naming it.
    """
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise NotStrictJSON(f"duplicate key {duplicate!r}")
    return obj


READ_BLOCK = 1 << 20
READ_WHOLE_LIMIT = 1 << 26
"""A file larger than this (64 MB) is never read whole only to word an error message: a document that is
not a JSON object is refused at its first byte, a JSON error is named by its place in the stream."""
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""A byte JSON never holds raw, in a text or between values (only tab, newline and return may be)."""


def bad_byte(block: bytes, *, first: bool) -> int:
    """The offset in ``block`` of a byte no JSON text holds raw, or -1.

    Every block is searched for a NUL (what a sparse or zero-filled file holds; found at memory
    speed), the ``first`` block of a file for every control character, so that a file that is
    not text at all is refused at once without slowing the reading of a large one.
    """
    if first:
        found = _RAW_CONTROL.search(block)
        return -1 if found is None else found.start()
    return block.find(b"\0")


def _not_regular(mode: int) -> str | None:
    """What a file of ``mode`` is, when it is not a regular file (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "is not a regular file"


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open ``path`` for reading in binary, only when it is a regular file.

    A named pipe, a device (``/dev/zero``), a socket or a folder is refused before anything is read
    (a pipe is opened without waiting for a writer), so reading never blocks and never goes on
    past the end of a file.

    Raises:
        InvalidDocument: missing, unreadable or not a regular file, naming the file.
    """
    p = Path(path)
    try:
        what = _not_regular(os.stat(p).st_mode)
        if what is not None:
            raise InvalidDocument(f"{p}: {what}")
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InvalidDocument(f"{p}: file not found") from None
    except OSError as exc:
        raise InvalidDocument(f"{p}: cannot read ({exc.strerror})") from None
    what = _not_regular(os.fstat(fd).st_mode)  # replaced between the two looks
    if what is not None:
        os.close(fd)
        raise InvalidDocument(f"{p}: {what}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _position(raw: bytes, offset: int) -> str:
    """``line L, column C`` of byte ``offset`` of ``raw`` (columns count characters)."""
    newline = b"\n"
    line_start = raw.rfind(newline, 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", "replace")) + 1
    return f"line {raw.count(newline, 0, offset) + 1}, column {column}"


def read_document_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the JSON file ``path``, read in blocks that are checked as they come.

    Only a regular file is read (see `open_regular`), and a byte no JSON text may hold raw (a
    NUL, as a sparse or zero-filled file holds) stops the reading at the block that has it, so
    memory never grows past the valid start of a file.

    Raises:
        InvalidDocument: the file cannot be read, is not a regular file, is empty, is not UTF-8 before
            the bad byte, or holds a raw control character.
    """
    p = Path(path)
    blocks: list[bytes] = []
    read = 0
    with open_regular(p) as fh:
        try:
            while block := fh.read(READ_BLOCK):
                bad = bad_byte(block, first=not blocks)
                if bad >= 0:
                    if not blocks and block.startswith(b"SQLite format 3\0"):
                        raise InvalidDocument(f"{p}: a SQLite database, not a JSON file; give the .json export")
                    raw = b"".join([*blocks, block[:bad]])
                    _decode(p, raw)  # a file that is not UTF-8 before it says so first
                    offset = read + bad
                    raise InvalidDocument(
                        f"{p}: not valid JSON at {_position(raw, offset)}: a raw control character "
                        f"(byte 0x{block[bad]:02x} at offset {offset:,}), which JSON never holds"
                    )
                if not blocks:
                    _refuse_large_non_object(p, block, os.fstat(fh.fileno()).st_size)
                blocks.append(block)
                read += len(block)
        except OSError as exc:
            raise InvalidDocument(f"{p}: cannot read ({exc.strerror})") from None
    return b"".join(blocks)


def _refuse_large_non_object(p: Path, first_block: bytes, size: int) -> None:
    """Refuse a file larger than `READ_WHOLE_LIMIT` whose text does not start an object.

    Every export is a JSON object; a huge list, text or number is refused without being read.
    """
    start = first_block.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")[:1]
    if size > READ_WHOLE_LIMIT and start and start != b"{":
        raise InvalidDocument(
            f"{p}: the document is not a JSON object (it starts with {start.decode('latin-1')!r}): expected a "
            "production-history export or a bake-tracker full backup"
        )


def _decode(p: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(f"{p}: not UTF-8 text (bad byte at offset {exc.start})") from None


def load_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file strictly: UTF-8 (a BOM is tolerated), no NaN/Infinity, no duplicate keys.

    Only a regular file is read, and its reading stops at the first byte no JSON text holds
    (see `read_document_bytes`).

    Raises:
        InvalidDocument: one line naming the file and what is wrong with it.
    """
    p = Path(path)
    raw = read_document_bytes(p)
    if not raw.strip():
        raise InvalidDocument(f"{p}: the file is empty")
    text = _decode(p, raw)
    try:
        return json.loads(text, parse_constant=reject_constant, object_pairs_hook=reject_duplicates)
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


WRITE_BUFFER = 1 << 20
"""Bytes `atomic_writer` gathers before each write to a binary file."""


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
        # a document is written a run at a time: a large buffer makes that few system calls
        kwargs: dict[str, Any] = {"buffering": WRITE_BUFFER} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
        rename_over(tmp, target)


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
