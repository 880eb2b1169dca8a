"""Stored values ↔ exported text, checked against the app's own conversions."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bakemigrate.errors import DatabaseRefused
from bakemigrate.values import db_datetime_to_iso, db_number_to_text


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
