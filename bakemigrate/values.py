"""How the app stores values in SQLite and how its exports write them, in both directions."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal, InvalidOperation

from .errors import DatabaseRefused, InvalidDocument


def db_datetime_to_iso(value: str | None) -> str | None:
    """``2024-04-27 01:27:43.596854`` (as stored) → ``2024-04-27T01:27:43.596854`` (as exported).

    Like the app's ``datetime.isoformat()``, a zero microsecond drops the fraction.
    """
    if value is None:
        return None
    if type(value) is str and len(value) == 26 and value[10] == " " and value[19] == ".":
        # the app's own storage format: reshape the text, no parsing needed
        return f"{value[:10]}T{value[11:19] if value.endswith('.000000') else value[11:]}"
    try:
        return datetime.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise DatabaseRefused(f"the database holds a timestamp that is not a date and time: {value!r}") from None


def parse_timestamp(value: object, where: str = "value") -> datetime:
    """An exported timestamp (``isoformat``, ``T`` or space, optional fraction) → a naive datetime.

    Stored through SQLAlchemy it becomes ``YYYY-MM-DD HH:MM:SS.ffffff``, exactly as the app stores it.

    Raises:
        InvalidDocument: not a timestamp, or one with a time zone (the app's are naive UTC).
    """
    try:
        parsed = datetime.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidDocument(f"{where}: not a timestamp: {value!r}") from None
    if parsed.tzinfo is not None:
        raise InvalidDocument(f"{where}: timestamp with a time zone: {value!r}")
    return parsed


def db_datetime_from_iso(value: object, where: str, name: str, trusted: bool = False) -> str:
    """An exported timestamp (``where.name`` in the document) as the app stores it (the inverse of
    `db_datetime_to_iso`).

    The app stores ``YYYY-MM-DD HH:MM:SS.ffffff``. With ``trusted`` (bakemigrate's own export, written
    from stored timestamps) a timestamp in the export's shape (``isoformat``) is reshaped without
    being parsed.
    """
    reshaped = None
    if type(value) is str and value[10:11] == "T":  # the export's shape, with or without a fraction
        if len(value) == 26 and value[19] == ".":
            reshaped = f"{value[:10]} {value[11:]}"
        elif len(value) == 19:
            reshaped = f"{value[:10]} {value[11:]}.000000"
    if trusted and reshaped is not None:
        return reshaped
    parsed = parse_timestamp(value, f"{where}.{name}")  # a valid date and time, without a time zone
    return reshaped or parsed.isoformat(" ", "microseconds")


def db_number_to_text(value: float | int | str | None, scale: int) -> str | None:
    """A NUMERIC value as stored (REAL/INTEGER) → the app's string at the column's scale."""
    if value is None:
        return None
    if isinstance(value, str):
        value = float(value)
    return f"{value:.{scale}f}"


def parse_decimal(value: object, where: str = "value") -> Decimal:
    """A Decimal string from an export (``"8.1709"``) → a finite Decimal, as the app's import reads it.

    Raises:
        InvalidDocument: not a finite decimal number.
    """
    try:
        number = Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidDocument(f"{where}: not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise InvalidDocument(f"{where}: not a finite number: {value!r}")
    return number


STORED_VALUES_KEY = "stored_values"
"""The extension key of a run, consumption or loss that carries NUMERIC values exactly as stored."""
_EXACT_INTEGERS = 2**53  # an integer beyond this is not exact once formatted through a float


def stored_number(value: object, text: str | None) -> str | None:
    """The stored NUMERIC ``value`` as exact text, when the document's ``text`` would not store it back.

    The import stores ``float(text)``, which SQLite keeps as INTEGER when it is whole (NUMERIC
    affinity). When that is not ``value`` itself (same type, same value), the exact value is returned:
    ``repr`` of a REAL (the shortest text that reads back as the very same float), the digits of an
    INTEGER. Otherwise (and for any other stored type) None: the document's text is enough.
    """
    if type(value) is float:
        return None if text is not None and float(text) == value else repr(value)
    if type(value) is int:
        return None if -_EXACT_INTEGERS <= value <= _EXACT_INTEGERS else str(value)
    return None


def parse_stored_number(
    value: object, text: object, scale: int, where: str, *, against_text: bool = True
) -> int | float:
    """An exact stored value from a document (``stored_number``'s text) → the int or float to store.

    With ``against_text`` (the default) the value must be ``text`` once read at ``scale``; without it
    (a document bakemigrate wrote itself from the stored values) only its own shape is checked.

    Raises:
        InvalidDocument: not the text of a finite number, or not ``text`` once read at ``scale``
            (the document's two values of one field must agree).
    """
    number: int | float | None = None
    if type(value) is str:
        # the text of a float (a point or an exponent) is never an integer's: int() is not tried
        readers = (float,) if "." in value or "e" in value or "E" in value else (int, float)
        for read in readers:
            try:
                number = read(value)
                break
            except ValueError:
                number = None
    if number is None or (type(number) is float and not math.isfinite(number)):
        raise InvalidDocument(f"{where}: not the text of a finite number: {value!r}")
    if against_text and parse_decimal(db_number_to_text(number, scale), where) != parse_decimal(text, where):
        raise InvalidDocument(f"{where}: stored value {value} is not {text} at {scale} decimals")
    return number
