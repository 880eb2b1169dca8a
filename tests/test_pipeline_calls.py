"""One `migrate` does each piece of work as few times as its proofs need: the calls are counted.

Each counted function is wrapped where the package's modules call it (their module attribute);
the staging connections are the SQLite connections opened on the staging database, by the
package or through SQLAlchemy.
"""

from __future__ import annotations

import collections
import functools
import sqlite3
import sqlite3.dbapi2
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import bakemigrate.backup
import bakemigrate.db
from bakemigrate import migrate

COUNTED = {
    "inspect_database": bakemigrate.db,
    "ensure_not_in_use": bakemigrate.db,
    "sha256_file": bakemigrate.db,
    "read_manifest": bakemigrate.backup,
}

AT_MOST = {
    "inspect_database": 9,
    "ensure_not_in_use": 4,
    "sha256_file": 11,
    "read_manifest": 8,
    "staging connects": 10,
}
"""The most calls one `migrate` of the demo database may make."""


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """How many times each counted function ran since the fixture was set up."""
    import bakemigrate.pipeline  # noqa: F401 - every module of the migrate path is loaded before wrapping

    counted: collections.Counter[str] = collections.Counter()

    def counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counted[name] += 1
            return function(*args, **kwargs)

        return wrapper

    for name, home in COUNTED.items():
        original = getattr(home, name)
        wrapped = counting(name, original)
        for module in [m for key, m in sys.modules.items() if key.startswith("bakemigrate")]:
            if getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, wrapped)

    connect = sqlite3.connect

    def connect_counting(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if "staging.db" in str(database):
            counted["staging connects"] += 1
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect_counting)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect_counting)  # what SQLAlchemy calls
    return counted


def test_one_migrate_does_each_piece_of_work_no_more_than_its_proofs_need(
    demo_db: Path, tmp_path: Path, counts: collections.Counter[str]
) -> None:
    result = migrate(demo_db, tmp_path / "work", yes=True, progress=False, echo=lambda text: None,
                     on_step=lambda step, result, earlier: None)
    assert result.outcome == "migrated"
    assert all(counts[name] > 0 for name in AT_MOST), counts  # the wrapping sees every one of them
    over = {name: counts[name] for name, most in AT_MOST.items() if counts[name] > most}
    assert over == {}, dict(counts)
