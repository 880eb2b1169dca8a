"""How the app stores values in SQLite and how its exports write them, in both directions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from .errors import InvalidDocument

DB_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def db_datetime_to_iso(value: str | None) -> str | None:
    """``2024-04-27 01:27:43.596854`` (as stored) → ``2024-04-27T01:27:43.596854`` (as exported).

    Like the app's ``datetime.isoformat()``, a zero microsecond drops the fraction.
    """
    if value is None:
        return None
    return datetime.fromisoformat(str(value)).isoformat()


def iso_to_db_datetime(value: str, where: str = "value") -> str:
    """An exported timestamp (``isoformat``, ``T`` or space, optional fraction) → stored text.

    Raises:
        InvalidDocument: not a timestamp, or one with a time zone (the app's are naive UTC).
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidDocument(f"{where}: not a timestamp: {value!r}") from None
    if parsed.tzinfo is not None:
        raise InvalidDocument(f"{where}: timestamp with a time zone: {value!r}")
    return parsed.strftime(DB_DATETIME_FORMAT)


def db_number_to_text(value: float | int | str | None, scale: int) -> str | None:
    """A NUMERIC value as stored (REAL/INTEGER) → the app's string at the column's scale."""
    if value is None:
        return None
    if isinstance(value, str):
        value = float(value)
    return "%.*f" % (scale, value)


def text_to_db_number(value: str, where: str = "value") -> float | int:
    """A Decimal string from an export → the value SQLite stores (INTEGER when whole, else REAL).

    Raises:
        InvalidDocument: not a finite decimal number.
    """
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidDocument(f"{where}: not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise InvalidDocument(f"{where}: not a finite number: {value!r}")
    if number == number.to_integral_value():
        return int(number)
    return float(number)
