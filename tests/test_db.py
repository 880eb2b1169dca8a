"""The database checks of `bakemigrate.db`, against the plain SQL they stand for."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bakemigrate.db import APP_TIMESTAMP, odd_timestamps

_DIGIT = st.sampled_from("0123456789")
_NEAR_TIMESTAMPS = st.tuples(
    st.integers(0, 9999), st.integers(0, 19), st.integers(0, 39), st.integers(0, 29), st.integers(0, 69),
    st.integers(0, 69), st.text(_DIGIT, min_size=6, max_size=6),
).map(lambda p: f"{p[0]:04d}-{p[1]:02d}-{p[2]:02d} {p[3]:02d}:{p[4]:02d}:{p[5]:02d}.{p[6]}")
"""Texts of the app's shape whose date or time may not exist (month 13, day 31 of April, 24:30, 61 s)."""
_STORED = st.one_of(
    _NEAR_TIMESTAMPS, _NEAR_TIMESTAMPS.map(lambda t: t[:19]), _NEAR_TIMESTAMPS.map(lambda t: t.replace(" ", "T")),
    st.text(max_size=30), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.none(),
    st.binary(max_size=8),
)
_EXACT = ("{c} IS NOT NULL AND (typeof({c}) != 'text' OR {c} NOT GLOB :app "
          "OR date(substr({c}, 1, 10), '+0 days') IS NOT substr({c}, 1, 10) "
          "OR time(substr({c}, 12, 8)) IS NOT substr({c}, 12, 8))")
"""What an odd timestamp is, written the slow, obvious way: SQLite's own date() and time() read it back."""


def test_every_time_of_day_is_judged_as_sqlite_time_judges_it(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "bake_tracker.db")
    conn.execute("CREATE TABLE production_runs (id INTEGER PRIMARY KEY, produced_at DATETIME)")
    conn.executemany("INSERT INTO production_runs (produced_at) VALUES (?)",
                     ((f"2024-01-01 {h:02d}:{m:02d}:{s:02d}.000000",) for h in range(30) for m in range(70)
                      for s in range(70)))
    conn.commit()
    expected = conn.execute(f"SELECT count(*) FROM production_runs WHERE {_EXACT.format(c='produced_at')}",
                            {"app": APP_TIMESTAMP}).fetchone()[0]
    conn.close()
    found = odd_timestamps(tmp_path / "bake_tracker.db")
    assert found is not None
    assert found.count == expected == 30 * 70 * 70 - 25 * 60 * 60  # all but 00:00:00 to 24:59:59


@settings(max_examples=60, deadline=None)
@given(st.lists(_STORED, min_size=1, max_size=40))
def test_odd_timestamps_finds_what_sqlite_date_and_time_reject(tmp_path_factory, values: list[object]) -> None:
    db = tmp_path_factory.mktemp("odd") / "bake_tracker.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE production_runs (id INTEGER PRIMARY KEY, produced_at DATETIME)")
        conn.executemany("INSERT INTO production_runs (produced_at) VALUES (?)", ((v,) for v in values))
        exact = conn.execute(f"SELECT id, produced_at FROM production_runs WHERE {_EXACT.format(c='produced_at')} "
                             "ORDER BY id", {"app": APP_TIMESTAMP}).fetchall()
    conn.close()
    found = odd_timestamps(Path(db))
    if not exact:
        assert found is None
    else:
        assert found is not None
        assert (found.row_id, found.value, found.count) == (exact[0][0], exact[0][1], len(exact))


_ROW = st.tuples(_STORED, st.booleans(), _STORED, st.booleans(), _STORED).map(
    lambda r: (r[0], r[0] if r[1] else r[2], (r[0] if r[1] else r[2]) if r[3] else r[4]))
"""A run's three timestamps, each often the very value of the one before (as the app writes them)."""


@settings(max_examples=60, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=40))
def test_a_timestamp_equal_to_the_one_before_is_judged_as_it_is(tmp_path_factory, rows: list[tuple]) -> None:
    db = tmp_path_factory.mktemp("odd") / "bake_tracker.db"
    columns = ("produced_at", "created_at", "updated_at")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE production_runs (id INTEGER PRIMARY KEY, produced_at DATETIME, "
                     "created_at DATETIME, updated_at DATETIME)")
        conn.executemany("INSERT INTO production_runs (produced_at, created_at, updated_at) VALUES (?, ?, ?)", rows)
        exact = [conn.execute(f"SELECT id, {c} FROM production_runs WHERE {_EXACT.format(c=c)} ORDER BY id",
                              {"app": APP_TIMESTAMP}).fetchall() for c in columns]
    conn.close()
    found = odd_timestamps(Path(db))
    first = next((hits[0] for hits in exact if hits), None)
    if first is None:
        assert found is None
    else:
        assert found is not None
        assert (found.row_id, found.value, found.count) == (*first, sum(len(hits) for hits in exact))
