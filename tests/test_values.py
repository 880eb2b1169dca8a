"""Stored values ↔ exported text, checked against the app's own conversions."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bakemigrate.errors import DatabaseRefused, InvalidDocument
from bakemigrate.values import db_datetime_from_iso, db_datetime_to_iso, db_number_to_text


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
def test_stored_timestamp_exports_as_the_app_isoformat(moment: datetime) -> None:
    stored = moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME text
    assert db_datetime_to_iso(stored) == moment.isoformat()


def test_other_timestamp_shapes_are_parsed() -> None:
    assert db_datetime_to_iso("2024-08-22 11:40:57") == "2024-08-22T11:40:57"
    assert db_datetime_to_iso(None) is None


def test_unreadable_timestamp_is_a_clear_refusal() -> None:
    with pytest.raises(DatabaseRefused, match="not a date and time"):
        db_datetime_to_iso("yesterday")


@pytest.mark.parametrize(("stored", "scale", "text"), [(8.1709375, 4, "8.1709"), (0, 4, "0.0000"),
                                                        (12, 4, "12.0000"), (600, 3, "600.000")])
def test_numbers_at_the_column_scale(stored: float, scale: int, text: str) -> None:
    assert db_number_to_text(stored, scale) == text
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_reshaped_timestamp_is_the_parsed_one(moment: datetime) -> None:
    exported = moment.isoformat()  # as the export writes it (no fraction for a zero microsecond)
    stored = moment.isoformat(" ", "microseconds")
    assert db_datetime_from_iso(exported, "run", "created_at", trusted=True) == stored
    assert db_datetime_from_iso(exported, "run", "created_at") == stored


def test_trusted_timestamp_in_another_shape_is_still_parsed() -> None:
    reshaped = db_datetime_from_iso("2024-01-02 03:04:05.5", "run", "created_at", trusted=True)
    assert reshaped == "2024-01-02 03:04:05.500000"
    with pytest.raises(InvalidDocument, match=r"run\.created_at: not a timestamp"):
        db_datetime_from_iso("2024-13-02 03:04:05", "run", "created_at", trusted=True)
    with pytest.raises(InvalidDocument, match=r"run\.produced_at: not a timestamp"):
        db_datetime_from_iso("2024-13-02T03:04:05", "run", "produced_at")  # not trusted: always parsed


def test_a_stored_value_is_held_against_its_text_unless_the_document_is_bakemigrates_own() -> None:
    from bakemigrate.values import parse_stored_number

    assert parse_stored_number("0.30000000000000004", "0.3000", 4, "run") == 0.30000000000000004
    with pytest.raises(InvalidDocument, match="stored value 1.5 is not 2.0000 at 4 decimals"):
        parse_stored_number("1.5", "2.0000", 4, "run")
    assert parse_stored_number("1.5", "2.0000", 4, "run", against_text=False) == 1.5
    assert type(parse_stored_number("9007199254740993", "9007199254740992.0000", 4, "run",
                                    against_text=False)) is int
    with pytest.raises(InvalidDocument, match="not the text of a finite number"):
        parse_stored_number("nan", "1.0000", 4, "run", against_text=False)
