"""The documents bakemigrate reads and writes: their kind, their validity, how they are written.

Three kinds are known (see the format reference):

* the production-history export, version ``"1.0"`` (or no version at all);
* the production-history export, version ``"1.1"``;
* the app's full backup ("Export All": ``application: "bake-tracker"``, version ``"3.x"``), of which
  only the ``production_runs`` section is checked.

Each kind has a JSON Schema file shipped in ``bakemigrate/schemas/``. Every problem found is reported
at once, on one line, naming the place (``production_runs[12].expected_yield: expected integer, got
"48"``).

A document is first checked with a compiled yes/no check (fastjsonschema); only a document that it
refuses is checked again with jsonschema, which names every problem. So jsonschema, slow to import
where JupyterLab's packages are installed, is imported only for a document that needs it.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import json
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from .errors import InvalidDocument
from .jsonio import READ_WHOLE_LIMIT, load_json, read_document_bytes

if TYPE_CHECKING:
    import jsonschema

MAX_ERRORS_SHOWN = 10
"""How many problems an error message lists (a document's schema problems, the runs an import refuses)
before it only gives the total."""


class DocumentKind(str, enum.Enum):
    """The kinds of document bakemigrate accepts."""

    HISTORY_V1_0 = "production-history export v1.0"
    HISTORY_V1_1 = "production-history export v1.1"
    FULL_BACKUP = "full backup"

    @property
    def schema_file(self) -> str:
        """Name of the JSON Schema file (in ``bakemigrate/schemas/``) for this kind."""
        return _SCHEMA_FILES[self]

    @property
    def is_history(self) -> bool:
        """True for the production-history export (either version)."""
        return self is not DocumentKind.FULL_BACKUP


_SCHEMA_FILES = {
    DocumentKind.HISTORY_V1_0: "production_history_v1.0.schema.json",
    DocumentKind.HISTORY_V1_1: "production_history_v1.1.schema.json",
    DocumentKind.FULL_BACKUP: "full_backup_production_runs.schema.json",
}
_BACKUP_VERSION = re.compile(r"3\.[0-9]+")


def _preview(value: Any, limit: int = 40) -> str:
    """A short JSON rendering of ``value`` for an error message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # pragma: no cover - JSON values always render
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def detect_kind(doc: Any) -> DocumentKind:
    """Tell which kind of document ``doc`` is, from facts only (never a guess).

    Raises:
        InvalidDocument: not a kind bakemigrate knows, with the reason.
    """
    if not isinstance(doc, dict):
        what = "a JSON list" if isinstance(doc, list) else f"a JSON value ({_preview(doc)})"
        raise InvalidDocument(
            f"the document is {what}, not an object: expected a production-history export "
            "or a bake-tracker full backup"
        )
    version = doc.get("version")
    if "application" in doc:
        application = doc["application"]
        if application != "bake-tracker":
            raise InvalidDocument(
                f"made by application {_preview(application)}, not by bake-tracker"
            )
        if not isinstance(version, str) or not _BACKUP_VERSION.fullmatch(version):
            raise InvalidDocument(
                f"a bake-tracker full backup of version {_preview(version)}: "
                'only full backups of version "3.x" are supported'
            )
        if "production_runs" not in doc:
            raise InvalidDocument("a bake-tracker full backup with no production_runs section")
        return DocumentKind.FULL_BACKUP
    if "version" in doc and not isinstance(version, str):
        raise InvalidDocument(f'version must be a text like "1.0", got {_preview(version)}')
    if version not in (None, "1.0", "1.1"):
        raise InvalidDocument(
            f'version {_preview(version)} is not supported: expected a production-history export '
            'of version "1.0" or "1.1", or a bake-tracker full backup'
        )
    if "production_runs" not in doc:
        raise InvalidDocument(
            "no production_runs: expected a production-history export or a bake-tracker full backup"
        )
    return DocumentKind.HISTORY_V1_1 if version == "1.1" else DocumentKind.HISTORY_V1_0


# --------------------------------------------------------------------------------------------
# Schemas


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    """Every shipped schema, by file name."""
    from importlib import resources  # imported when used, as the libraries below: start-up stays short

    folder = resources.files("bakemigrate") / "schemas"
    return {
        entry.name: json.loads(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".schema.json")
    }


def load_schema(kind: DocumentKind) -> dict[str, Any]:
    """The JSON Schema of ``kind`` (a fresh copy, safe to modify)."""
    return json.loads(json.dumps(_schemas()[kind.schema_file]))


def _inline_refs(node: Any, base: str, by_id: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` replaced by what it points to (the shipped schemas never recurse).

    One self-contained schema per kind is faster to check and needs no cross-file lookups.
    """
    if isinstance(node, list):
        return [_inline_refs(item, base, by_id) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:  # draft-04: the keywords beside a $ref are ignored
        from urllib.parse import urljoin

        uri, _, pointer = urljoin(base, node["$ref"]).partition("#")
        target = by_id[uri]
        for part in filter(None, pointer.split("/")):
            target = target[part]
        return _inline_refs(target, uri, by_id)
    return {key: _inline_refs(value, base, by_id) for key, value in node.items() if key != "definitions"}


def _pattern_whole_text(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """``pattern`` where ``$`` means the end of the text, as in JSON Schema (not before a newline)."""
    import jsonschema

    if isinstance(instance, str) and not re.search(pattern.replace("$", r"\Z"), instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _kind_schemas(kind: DocumentKind) -> tuple[dict[str, Any], dict[str, Any]]:
    """The self-contained schemas of ``kind``: the document without its runs, and one run."""
    schemas = _schemas()
    by_id = {schema["id"]: schema for schema in schemas.values()}
    schema = schemas[kind.schema_file]
    whole = _inline_refs(schema, schema["id"], by_id)
    run_schema = {"$schema": schema["$schema"], **whole["properties"]["production_runs"].pop("items")}
    return whole, run_schema


def _yes_or_no(schema: dict[str, Any]) -> Callable[[Any], bool]:
    """A compiled check of ``schema`` that only says whether a value is valid."""
    import fastjsonschema

    check = fastjsonschema.compile(schema)

    def is_valid(value: Any) -> bool:
        try:
            check(value)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return is_valid


@dataclass(frozen=True)
class _FastChecks:
    """The yes/no checks of one kind: the document without its runs, and each run."""

    top_is_valid: Callable[[Any], bool]
    run_is_valid: Callable[[Any], bool]


@cache
def _fast_checks(kind: DocumentKind) -> _FastChecks:
    top, run = _kind_schemas(kind)
    return _FastChecks(top_is_valid=_yes_or_no(top), run_is_valid=_yes_or_no(run))


@dataclass(frozen=True)
class _DetailedChecks:
    """The jsonschema validators of one kind, which name every problem."""

    top: Any
    run: Any


@cache
def _detailed_checks(kind: DocumentKind) -> _DetailedChecks:
    import jsonschema

    detailed = jsonschema.validators.extend(jsonschema.Draft4Validator, {"pattern": _pattern_whole_text})
    top, run = _kind_schemas(kind)
    return _DetailedChecks(top=detailed(top), run=detailed(run))


def _named_problems(validator: Any, instance: Any, prefix: str, kind: DocumentKind) -> list[str]:
    """The problems of a value the fast check refused, named by the detailed check."""
    found = list(_problems(validator, instance, prefix))
    # Both checks read the same schema, so the detailed one finds what the fast one refused.
    return found or [f"{prefix or 'the document'}: does not match the {kind.value} format"]


def _place(path: Iterable[Any], prefix: str = "") -> str:
    """``production_runs[3].notes`` for the path ``["production_runs", 3, "notes"]``."""
    text = prefix
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:  # a key that cannot be printed as it is shows its escape
            key = str(part).encode("utf-8", "backslashreplace").decode("utf-8")
            text += f".{key}" if text else key
    return text or "the document"


def _describe(error: jsonschema.ValidationError) -> str:
    """The problem of one schema error in plain words (what was expected, what was found)."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    wanted = schema.get("description")
    got = _preview(error.instance)
    keyword, value = error.validator, error.validator_value
    if keyword == "type":
        return f"expected {' or '.join(value) if isinstance(value, list) else value}, got {got}"
    if keyword in ("pattern", "enum") and wanted:
        return f"expected {wanted}, got {got}"
    if keyword == "enum":
        return f"expected one of {', '.join(_preview(v) for v in value)}, got {got}"
    if keyword in ("minimum", "maximum"):
        return f"expected {'at least' if keyword == 'minimum' else 'at most'} {value}, got {got}"
    if keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        return f"expected {bound} {value} character(s), got {len(error.instance)}"
    return error.message  # pragma: no cover - every keyword of the shipped schemas is handled above


def _problems(validator: Any, instance: Any, prefix: str) -> Iterator[str]:
    """One line per problem, each starting with its place (``production_runs[3].notes: ...``)."""
    objects_with_missing_keys: set[str] = set()
    for error in validator.iter_errors(instance):
        place = _place(error.absolute_path, prefix)
        if error.validator != "required":
            yield f"{place}: {_describe(error)}"
        elif place not in objects_with_missing_keys:
            # One error per missing key: report them all the first time the object shows up.
            objects_with_missing_keys.add(place)
            present = error.instance if isinstance(error.instance, dict) else {}
            for key in error.validator_value:
                if key not in present:
                    yield f"{_place([*error.absolute_path, key], prefix)}: missing"


def run_problems(kind: DocumentKind, run: Any, index: int) -> list[str]:
    """The problems of one production run (``production_runs[index]``) under ``kind``'s schema.

    Empty when the run is valid (the common case, checked fast). Lets a reader that streams the
    runs check them one by one with the same rules and words as `validate_document`.
    """
    if _fast_checks(kind).run_is_valid(run):
        return []
    return _named_problems(_detailed_checks(kind).run, run, f"production_runs[{index}]", kind)


def find_problems(doc: dict[str, Any], kind: DocumentKind) -> ProblemList:
    """Check ``doc`` against the schema of ``kind``: every problem found, counted, the first ones kept."""
    runs = doc.get("production_runs")
    top = dict(doc)
    if isinstance(runs, list):
        top["production_runs"] = []
    found = ProblemList()
    if not _fast_checks(kind).top_is_valid(top):
        found.note(_named_problems(_detailed_checks(kind).top, top, "", kind))
    if isinstance(runs, list):
        for index, run in enumerate(runs):
            found.note(run_problems(kind, run, index))
    return found


@dataclass
class ProblemList:
    """Problems gathered one by one: the first `MAX_ERRORS_SHOWN` of them, and how many in all."""

    shown: list[str] = field(default_factory=list)
    total: int = 0

    def note(self, problems: Iterable[str]) -> None:
        """Count ``problems``, keeping the first ones for the message."""
        for problem in problems:
            self.total += 1
            if len(self.shown) < MAX_ERRORS_SHOWN:
                self.shown.append(problem)

    def add(self, other: ProblemList) -> None:
        """Count the problems of ``other`` after these, keeping the first ones of both for the message."""
        self.note(other.shown)
        self.total += other.total - len(other.shown)

    def line(self) -> str:
        """One line listing the problems found: the ones kept, and the total when some are not shown."""
        text = "; ".join(self.shown)
        if self.total > len(self.shown):
            text += f"; ... ({self.total} problems in total, the first {len(self.shown)} shown)"
        elif self.total > 1:
            text += f" ({self.total} problems)"
        return text

    def refuse(self, kind: DocumentKind, where: str | Path | None = None) -> None:
        """Refuse a document of ``kind`` (the file ``where``) when any problem was found.

        Raises:
            InvalidDocument: ``not a valid KIND:`` and `line`, after the file's name when given.
        """
        if self.total:
            place = f"{where}: " if where is not None else ""
            raise InvalidDocument(f"{place}not a valid {kind.value}: {self.line()}")


def validate_document(doc: Any) -> DocumentKind:
    """Detect the kind of ``doc`` and check it against that kind's JSON Schema.

    Extra keys are allowed anywhere (they are kept by the transform).

    Raises:
        InvalidDocument: an unknown kind, or every problem found, on one line.
    """
    kind = detect_kind(doc)
    find_problems(doc, kind).refuse(kind)
    return kind


# --------------------------------------------------------------------------------------------
# Writing


# Floats that orjson writes differently from Python's json (exponent form, or below 1e-4), found in
# the compact form, where a number always follows ":", "," or "[" (a text may only give a false alarm).
_FLOAT_TEXT_DIFFERS = [re.compile(rb"%s-?(?:[0-9][0-9.]*e|0\.0000)" % lead) for lead in (b":", b",", rb"\[")]


def _floats_written_differently(compact: bytes) -> bool:
    """Whether orjson's compact output ``compact`` holds a float that Python's json writes otherwise."""
    return any(pattern.search(compact) for pattern in _FLOAT_TEXT_DIFFERS)


_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def _escape_non_ascii(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def _first_bad_text(doc: Any) -> list[Any]:
    """The place of the first text (key or value) that cannot be written as UTF-8."""

    def bad(text: str) -> bool:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    stack: list[tuple[Any, list[Any]]] = [(doc, [])]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str) and bad(value):
            return where
        if isinstance(value, dict):
            for key, item in reversed(value.items()):
                if bad(key):
                    return [*where, key]
                stack.append((item, [*where, key]))
        elif isinstance(value, list):
            stack.extend((item, [*where, i]) for i, item in reversed(list(enumerate(value))))
    return []


def encode_document(
    doc: Any, *, ascii_only: bool = False, trailing_newline: bool = True, numbers_checked: bool = False
) -> bytes:
    """``doc`` as UTF-8 JSON bytes, exactly as ``json.dump(doc, indent=2, ensure_ascii=ascii_only)``.

    orjson does the work (it is many times faster); Python's json takes over for what orjson writes
    differently or cannot write (floats in exponent form, integers beyond 64 bits, deep nesting).
    ``numbers_checked`` skips the search for such floats when it was done on reading
    (`FileStyle.numbers_checked`) and nothing but integers and texts were added since.

    Raises:
        InvalidDocument: a text holds an unpaired surrogate, or the nesting is too deep.
    """
    data = _encode(doc, ascii_only=ascii_only, numbers_checked=numbers_checked, place=_place)
    return data + b"\n" if trailing_newline else data


def _encode(
    doc: Any, *, ascii_only: bool, numbers_checked: bool, place: Callable[[list[Any]], str]
) -> bytes:
    """`encode_document` without the final newline; ``place`` names where a bad text sits."""
    try:
        if not numbers_checked and _floats_written_differently(orjson.dumps(doc)):
            data = b""
        else:
            data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    except TypeError as exc:
        if "surrogates" in str(exc):
            where = _first_bad_text(doc)
            raise InvalidDocument(
                f"{place(where)}: a text holds an unpaired surrogate (an invalid character "
                "such as \\ud800), which cannot be written as UTF-8"
            ) from None
        data = b""
    if data and ascii_only and not data.isascii():
        data = _NON_ASCII.sub(_escape_non_ascii, data.decode("utf-8")).encode("ascii")
    if not data:
        try:
            data = json.dumps(doc, indent=2, ensure_ascii=ascii_only, allow_nan=False).encode("utf-8")
        except RecursionError:
            raise InvalidDocument("the document is nested too deeply to be written") from None
        except ValueError as exc:
            raise InvalidDocument(f"cannot be written as JSON: {exc}") from None
    return data


_RUNS = "production_runs"
_RUNS_OPENED = b'{\n  "production_runs": [\n'
_RUNS_CLOSED = b"\n  ]\n}"
_RUNS_EMPTY = b'\n  "production_runs": []'


def encode_run(run: Any, index: int, *, ascii_only: bool = False, numbers_checked: bool = False) -> bytes:
    """``production_runs[index]`` as `encode_document` writes it inside its document.

    The bytes are indented for their place in the list, without the separating comma, so that
    `encode_around_runs` and these pieces, joined, give the bytes of the whole document.

    Raises:
        InvalidDocument: as `encode_document`, the place naming ``production_runs[index]``.
    """
    data = _encode(
        {_RUNS: [run]},  # the run at its own depth, so deep nesting is handled as in the document
        ascii_only=ascii_only,
        numbers_checked=numbers_checked,
        place=lambda where: _place([_RUNS, index, *where[2:]]),
    )
    return data[len(_RUNS_OPENED) : -len(_RUNS_CLOSED)]


def encode_around_runs(
    top: dict[str, Any], *, ascii_only: bool = False, trailing_newline: bool = True
) -> tuple[bytes, bytes]:
    """The bytes of a document before and after the runs of its ``production_runs`` list.

    ``top`` is the document with an empty ``production_runs``. Written in between: nothing and
    ``]`` for no runs, else a newline, the runs (`encode_run`) joined by ``,`` and a newline,
    then a newline and ``  ]``.

    Raises:
        InvalidDocument: as `encode_document`.
    """
    data = encode_document(top, ascii_only=ascii_only, trailing_newline=trailing_newline)
    # A newline and two spaces start a top-level key: texts never hold a raw newline.
    cut = data.index(_RUNS_EMPTY)
    return data[:cut] + _RUNS_EMPTY[:-1], data[cut + len(_RUNS_EMPTY) :]


class RunsWriter:
    """A production-history document written to ``fh`` one run at a time.

    The bytes are those `encode_document` gives for the whole document: ``top`` (its keys
    other than ``production_runs``, in order) with every run passed to `write`, then
    `close`. ``numbers_checked`` says that no run holds a float (see `encode_document`).

    Raises:
        InvalidDocument: as `encode_document`.
    """

    def __init__(
        self, fh: IO[bytes], top: dict[str, Any], *, ascii_only: bool = False, trailing_newline: bool = True,
        numbers_checked: bool = False,
    ) -> None:
        self.fh, self.count = fh, 0
        self._options = {"ascii_only": ascii_only, "numbers_checked": numbers_checked}
        before, self._after = encode_around_runs(
            {**top, _RUNS: []}, ascii_only=ascii_only, trailing_newline=trailing_newline
        )
        fh.write(before)

    @classmethod
    def following(cls, fh: IO[bytes], count: int, *, ascii_only: bool = False,
                  numbers_checked: bool = False) -> RunsWriter:
        """A writer of the runs that follow ``count`` runs written elsewhere: no top level, never
        closed; its bytes are `append`-ed to the writer of those runs."""
        writer = cls.__new__(cls)
        writer.fh, writer.count, writer._after = fh, count, b""
        writer._options = {"ascii_only": ascii_only, "numbers_checked": numbers_checked}
        return writer

    def write(self, run: Any) -> None:
        """Append ``run`` to the list."""
        piece = encode_run(run, self.count, **self._options)
        self.fh.write(b",\n" if self.count else b"\n")
        self.fh.write(piece)
        self.count += 1

    def append(self, piece: Path, count: int) -> None:
        """Append the ``count`` runs the file ``piece`` holds, written by a `following` writer."""
        with open(piece, "rb") as src:
            shutil.copyfileobj(src, self.fh, 1 << 20)
        self.count += count

    def close(self) -> None:
        """End the list and the document."""
        self.fh.write(b"\n  ]" if self.count else b"]")
        self.fh.write(self._after)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large JSON tree is built (it has no cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class FileStyle:
    """How an input file is written, so that an output can be written the same way."""

    ascii_only: bool
    """Every non-ASCII character is written as a ``\\uXXXX`` escape (Python's default)."""
    trailing_newline: bool
    numbers_checked: bool = False
    """Every number in the file is one that orjson writes exactly as Python's json does."""

    @classmethod
    def of_bytes(cls, raw: bytes, *, numbers_checked: bool = False) -> FileStyle:
        """The style of a file whose content is ``raw``."""
        return cls(raw.isascii(), raw.endswith(b"\n"), numbers_checked)

    @classmethod
    def of_file(cls, path: str | Path) -> FileStyle:
        """The style of the file ``path``, read in blocks (its numbers are not checked)."""
        ascii_only, last = True, b""
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                ascii_only = ascii_only and block.isascii()
                last = block[-1:]
        return cls(ascii_only, last == b"\n")


def _parse_fast(raw: bytes) -> Any | None:
    """``raw`` parsed by orjson, or None when only the strict reader may decide.

    orjson keeps the last of repeated keys where the strict reader refuses them, so the number of
    colons (one per key, plus those inside texts) must be the same before and after. It reads
    integers beyond 64 bits as floats, which it writes in exponent form: those go to the strict
    reader too, as do floats it writes differently from Python's json.
    """
    try:
        doc = orjson.loads(raw)
        compact = orjson.dumps(doc)
    except (orjson.JSONDecodeError, TypeError):  # TypeError: nested deeper than orjson writes
        return None
    if raw.count(b":") != compact.count(b":") or _floats_written_differently(compact):
        return None
    return doc


def load_document(path: str | Path) -> tuple[Any, FileStyle]:
    """Read the JSON file ``path`` and how it is written.

    The file is read as strictly as `bakemigrate.jsonio.load_json` reads it (which gives
    the error messages), only faster for a large, well-formed file.

    Raises:
        InvalidDocument: one line naming the file.
    """
    with gc_paused():
        raw = read_document_bytes(path)
        doc = _parse_fast(raw)
        if doc is not None:
            return doc, FileStyle.of_bytes(raw, numbers_checked=True)
        return load_json(path), FileStyle.of_bytes(raw)


@dataclass(frozen=True)
class ValidationReport:
    """The result of `validate`."""

    path: Path
    kind: DocumentKind
    runs: int
    runs_with_loss_fields: int

    def summary_line(self) -> str:
        """One line for a person."""
        return (
            f"{self.path}: valid {self.kind.value}, {self.runs} production runs "
            f"({self.runs_with_loss_fields} with production_status, loss_quantity and losses)"
        )


LOSS_FIELDS = ("production_status", "loss_quantity", "losses")
"""The fields every production run gains in v1.1, in the order they appear."""


def has_loss_fields(run: Any) -> bool:
    """True when ``run`` already carries all of `LOSS_FIELDS`."""
    return isinstance(run, dict) and all(field in run for field in LOSS_FIELDS)


def validate(path: str | Path) -> ValidationReport:
    """Check the JSON file ``path``: its kind, its JSON Schema, and that it can be written back.

    A document whose ``production_runs`` list can be streamed (every export) is read one run at a
    time, so memory stays flat whatever its size; any other is read whole, and one larger than
    64 MB (which can be no export) is refused without being read.

    Raises:
        InvalidDocument: one line naming the file and every problem found.
    """
    from .jsonstream import RunStream  # imported when used: it reads this module

    source = Path(path)
    with RunStream(source) as stream:
        if stream.streamable:
            return _validate_stream(source, stream)
    if stream.is_object and source.stat().st_size > READ_WHOLE_LIMIT:
        raise InvalidDocument(
            f"{source}: no production_runs list where an export has one, in a file larger than "
            f"{READ_WHOLE_LIMIT >> 20} MB: expected a production-history export or a bake-tracker full backup"
        )
    doc, style = load_document(source)
    try:
        kind = validate_document(doc)
        encode_document(doc, ascii_only=style.ascii_only)
    except InvalidDocument as exc:
        raise InvalidDocument(f"{source}: {exc}") from None
    runs = doc["production_runs"]
    return ValidationReport(source, kind, len(runs), sum(1 for run in runs if has_loss_fields(run)))


def _validate_stream(source: Path, stream: Any) -> ValidationReport:
    """`validate` of a document read run by run from `stream` (a `RunStream` just opened).

    The problems are found and worded as for the whole document, in the same order: the JSON text,
    the kind, every schema problem, then the first text that cannot be written. Keys after the
    runs may change the kind: the runs are then read again under it.
    """
    from .jsonstream import RunStream

    head = stream.head
    try:
        kind: DocumentKind | None = detect_kind({**head, _RUNS: []})
    except InvalidDocument:
        kind = None  # a key after the runs may still make it one: the runs are read first
    checked = _check_runs(source, stream, kind, ascii_only=FileStyle.of_file(source).ascii_only)
    top = {**head, _RUNS: [], **stream.tail}
    try:
        final = detect_kind(top)
    except InvalidDocument as exc:
        raise InvalidDocument(f"{source}: {exc}") from None
    if final is not kind:
        with RunStream(source) as again:
            checked = _check_runs(source, again, final, ascii_only=checked.ascii_only)
    found = find_problems(top, final)
    found.add(checked.problems)
    found.refuse(final, source)
    try:
        encode_document({**head, _RUNS: []}, ascii_only=checked.ascii_only)
        if checked.write_error is not None:
            raise checked.write_error
        encode_document(top, ascii_only=checked.ascii_only)
    except InvalidDocument as exc:
        raise InvalidDocument(f"{source}: {exc}") from None
    return ValidationReport(source, final, checked.runs, checked.with_loss_fields)


@dataclass
class _CheckedRuns:
    """What `_check_runs` found in the runs of a stream."""

    ascii_only: bool
    problems: ProblemList = field(default_factory=ProblemList)
    write_error: InvalidDocument | None = None
    runs: int = 0
    with_loss_fields: int = 0


def _check_runs(source: Path, stream: Any, kind: DocumentKind | None, *, ascii_only: bool) -> _CheckedRuns:
    """Read every run of `stream`, checking each under `kind` (None: only read) and that it can be written."""
    checked = _CheckedRuns(ascii_only)
    for index, run in enumerate(stream.runs()):
        checked.runs += 1
        checked.with_loss_fields += has_loss_fields(run)
        if kind is None:
            continue
        checked.problems.note(run_problems(kind, run, index))
        if checked.write_error is None and not checked.problems.total:
            try:
                encode_run(run, index, ascii_only=ascii_only)
            except InvalidDocument as exc:
                checked.write_error = exc
    return checked
