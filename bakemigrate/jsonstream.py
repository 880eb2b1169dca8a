"""Reading a large document's ``production_runs`` one run at a time, as strictly as `load_json`.

A production-history export is one JSON object whose ``production_runs`` list holds almost all of
its bytes. `RunStream` reads the file in blocks and hands out the runs one by one, so memory
stays flat whatever the size; the other top-level keys are kept (`RunStream.head` before the
list, `RunStream.tail` after it). The rules are those of `bakemigrate.jsonio.load_json`
(UTF-8 with an optional BOM, no NaN/Infinity, no duplicate keys); on any breach the file is read
again by ``load_json`` so that the error message is exactly the one it gives.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .errors import InvalidDocument
from .jsonio import (
    READ_WHOLE_LIMIT,
    NotStrictJSON,
    bad_byte,
    load_json,
    open_regular,
    reject_constant,
    reject_duplicates,
)

BLOCK = 1 << 22
MAX_VALUE_CHARS = 1 << 26
"""The longest single value (a run, or a key's value before the runs) read before the document is refused."""
_WHITESPACE = re.compile(r"[ \t\n\r]*")
RUNS_KEY = "production_runs"


class _NotAnObjectOfRuns(Exception):
    """The top level is not an object with a ``production_runs`` list."""


_DECODER = json.JSONDecoder(parse_constant=reject_constant, object_pairs_hook=reject_duplicates)
_CUT_OFF_REACH = 16
"""How far before the end of the text read so far an error may lie and still be the end of the block
(a literal such as ``-Infinity`` or a ``\\uXXXX`` escape cut in two is reported at its start)."""


def _may_be_cut_off(error: json.JSONDecodeError, length: int) -> bool:
    """True when `error`, met in the first `length` characters of a file, may only mean that the value
    goes on in the next block: at the end of the text, or in a text not yet closed. Anything else is
    wrong whatever follows (a file that starts with ``{`` and then garbage is refused at its first block)."""
    return error.msg.startswith("Unterminated string") or error.pos >= length - _CUT_OFF_REACH


class RunStream:
    """The runs of the JSON file ``path``, one at a time (iterate over `runs` once).

    `head` holds the top-level keys before ``production_runs`` once the stream is open;
    `tail` those after it once every run has been read. `streamable` is False when the
    file is not an object with a ``production_runs`` list: `whole` then returns the document.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.head: dict[str, Any] = {}
        self.tail: dict[str, Any] = {}
        self.streamable = True
        self.is_object = True
        """False when the text does not start a JSON object."""
        self._fh: Any = None
        self._decode = codecs.getincrementaldecoder("utf-8-sig")()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._first_block = True
        self._offset = 0  # characters dropped from the buffer so far
        self._bytes_read = 0
        self._open()

    # -- reading ------------------------------------------------------------------------------
    def _fail(self, reason: str = "unexpected text", *, stops_at: int | None = None) -> None:
        """Raise the error for the text at the position: ``load_json``'s precise one, unless that would
        read more than READ_WHOLE_LIMIT bytes (its reading ends at ``stops_at``, a byte it refuses)."""
        self.close()
        if (stops_at if stops_at is not None else self.path.stat().st_size) > READ_WHOLE_LIMIT:
            raise InvalidDocument(f"{self.path}: not valid JSON at character {self._offset + self._pos:,}: {reason}")
        load_json(self.path)  # raises the precise InvalidDocument
        raise InvalidDocument(f"{self.path}: not valid JSON")  # pragma: no cover - load_json raised

    def _more(self) -> bool:
        if self._eof:
            return False
        if self._pos:
            self._offset += self._pos
            self._buf, self._pos = self._buf[self._pos :], 0
        if len(self._buf) > MAX_VALUE_CHARS:  # one value that never ends: not a document of runs
            self.close()
            raise InvalidDocument(
                f"{self.path}: a value larger than {MAX_VALUE_CHARS >> 20} MB, which no export holds "
                "(not a production-history export)"
            )
        try:
            block = self._fh.read(BLOCK)
            bad = bad_byte(block, first=self._first_block)
            if bad >= 0:  # a NUL or another byte JSON never holds raw
                self._fail("a raw control character, which JSON never holds", stops_at=self._bytes_read + bad)
            self._first_block = False
            self._bytes_read += len(block)
            self._buf += self._decode.decode(block, final=not block)
        except UnicodeDecodeError:
            self._fail("not UTF-8 text")
        if not block:
            self._eof = True
        return True

    def _skip(self) -> str:
        """Skip whitespace; the next character ('' at the end of the file)."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def _value(self) -> Any:
        """Decode the value after the position (reading more while it may be cut off)."""
        self._skip()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if _may_be_cut_off(exc, len(self._buf)) and self._more():
                    continue
                self._fail(exc.msg)  # text no document holds at that place: refused at once, not read on
            except NotStrictJSON as exc:
                self._fail(str(exc))
            except RecursionError:
                self._fail("nested too deeply")
            except ValueError:  # an integer too long to convert
                self._fail("a number too long to read")
            if len(self._buf) - end < 8 and not self._eof:  # a number cut off by the block may go on
                self._more()
                continue
            self._pos = end
            return value

    def _expect(self, char: str) -> None:
        if self._skip() != char:
            self._fail()
        self._pos += 1

    # -- structure ----------------------------------------------------------------------------
    def _open(self) -> None:
        self._fh = open_regular(self.path)  # never a pipe or a device: reading ends at the file's end
        if self._skip() != "{":
            self.streamable = self.is_object = False
            return
        self._pos += 1
        first = True
        while True:
            char = self._skip()
            if char == "}" or not first and char != ",":
                self.streamable = False  # no runs list: the whole document is small enough
                return
            if not first:
                self._pos += 1
                self._skip()
            first = False
            key = self._value()
            if not isinstance(key, str) or key in self.head:
                self._fail()
            self._expect(":")
            if key == RUNS_KEY and self._skip() == "[":
                self._pos += 1
                return
            self.head[key] = self._value()

    def runs(self) -> Iterator[Any]:
        """Yield each item of ``production_runs`` in order; then read the rest of the document."""
        if not self.streamable:
            return
        try:
            if self._skip() == "]":
                self._pos += 1
            else:
                while True:
                    yield self._value()
                    char = self._skip()
                    self._pos += 1
                    if char == "]":
                        break
                    if char != ",":
                        self._fail()
            while True:
                char = self._skip()
                self._pos += 1
                if char == "}":
                    break
                if char != ",":
                    self._fail()
                self._skip()
                key = self._value()
                if not isinstance(key, str) or key in self.head or key in self.tail or key == RUNS_KEY:
                    self._fail()
                self._expect(":")
                self.tail[key] = self._value()
            if self._skip() != "":
                self._fail()
        finally:
            self.close()

    def whole(self) -> Any:
        """The whole document, read by `load_json` (for a file that cannot be streamed)."""
        self.close()
        return load_json(self.path)

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RunStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_OWN_RUNS_OPENED = b'\n  "production_runs": ['
_OWN_RUN_CLOSED = b"\n    }"


def own_runs(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The runs of a document bakemigrate itself wrote (`RunsWriter`), fast.

    Only for a file proven unchanged since bakemigrate wrote it (its SHA-256 is in the journal):
    the strict checks of `RunStream` are for foreign files. In that layout each run starts at
    ``{`` and ends at the next line that is exactly four spaces and ``}`` (a text never holds a raw
    newline, and the lines inside a run are indented further), so each run is cut out and parsed by
    orjson, several times faster than Python's json.

    Raises:
        InvalidDocument: the file is not in that layout.
    """
    for _, run in own_runs_with_text(path):
        yield run


def own_head(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The top-level keys before the runs of a document bakemigrate itself wrote (as `own_runs` reads it).

    Raises:
        InvalidDocument: the file is not in that layout.
    """
    name = Path(path)
    with open(name, "rb") as fh:
        buf = fh.read(1 << 16)
    opened = buf.find(_OWN_RUNS_OPENED)
    head = buf[:opened].rstrip(b",") if opened > 0 else b""
    try:
        found = orjson.loads(head + b"\n}") if head.startswith(b"{") else None
    except orjson.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        raise InvalidDocument(f"{name}: not a document written by bakemigrate")
    return found


def own_runs_with_text(
    path: str | os.PathLike[str], *, start: int = 0, stop: int | None = None, parse: bool = True
) -> Iterator[tuple[bytes, Any]]:
    """`own_runs`, each run with the bytes it was read from (equal runs of one document, equal bytes).

    ``start`` and ``stop`` (offsets `own_split` gives) read a part of the runs: from the run after
    ``start`` (the ``,`` that ends a run), or up to the run that ends at ``stop``. Without ``parse``
    each run is given as None beside its bytes (not parsed: a run that is not JSON is not found).

    Raises:
        InvalidDocument: the file is not in that layout.
    """
    name = Path(path)

    def refuse() -> InvalidDocument:
        return InvalidDocument(f"{name}: not a document written by bakemigrate")

    with open(name, "rb") as fh:
        if start:
            fh.seek(start)
            buf, pos = fh.read(BLOCK), 0
            if not buf.startswith(b","):
                raise refuse()
        else:
            buf = fh.read(BLOCK)
            while (opened := buf.find(_OWN_RUNS_OPENED)) < 0 or opened + len(_OWN_RUNS_OPENED) >= len(buf):
                block = fh.read(BLOCK)
                if not block:
                    raise refuse()
                buf += block
            pos = opened + len(_OWN_RUNS_OPENED)
            if buf[pos:pos + 1] == b"]":  # no runs
                return
        based = start  # the offset of buf[0] in the file
        while True:
            end = buf.find(_OWN_RUN_CLOSED, pos)
            while end < 0 or end + len(_OWN_RUN_CLOSED) >= len(buf):  # the run and the byte after it
                block = fh.read(BLOCK)
                if not block:
                    raise refuse()
                based += pos
                buf, pos = buf[pos:] + block, 0
                end = buf.find(_OWN_RUN_CLOSED)
            begin = buf.find(b"{", pos, end)
            if begin < 0 or buf[pos:begin].strip(b", \n"):
                raise refuse()
            text = buf[begin : end + len(_OWN_RUN_CLOSED)]
            try:
                run = orjson.loads(text) if parse else None
            except orjson.JSONDecodeError:
                raise refuse() from None
            yield text, run
            pos = end + len(_OWN_RUN_CLOSED)
            if buf[pos:pos + 1] != b"," or based + pos == stop:  # "\n  ]": the last run, or the part's
                return


def own_split(path: str | os.PathLike[str], at: float = 0.5) -> int | None:
    """The offset where a run of a document bakemigrate wrote ends and another follows (its ``,``),
    the first after the share ``at`` of the file (by default its middle): `own_runs_with_text` reads
    the runs on either side of it. None when no run ends soon after (one long run, or none).
    """
    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        begin = int(size * at)
        fh.seek(begin)
        buf = fh.read(BLOCK)
    found = buf.find(_OWN_RUN_CLOSED + b",\n    {")
    return None if found < 0 else begin + found + len(_OWN_RUN_CLOSED)


def own_runs_before(path: str | os.PathLike[str], offset: int) -> int:
    """How many runs of a document bakemigrate wrote end before ``offset`` (an `own_split` offset):
    the index of the first run `own_runs_with_text` reads from it."""
    ends, count, tail = _OWN_RUN_CLOSED + b",", 0, b""
    with open(path, "rb") as fh:
        left = offset + 1  # the "," at the offset ends the last run before it
        while left > 0 and (block := fh.read(min(BLOCK, left))):
            left -= len(block)
            buf = tail + block
            count += buf.count(ends)
            tail = buf[-(len(ends) - 1):]
    return count
