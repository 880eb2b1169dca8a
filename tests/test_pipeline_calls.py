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
from bakemigrate import Migration, migrate

COUNTED = {
    "inspect_database": bakemigrate.db,
    "ensure_not_in_use": bakemigrate.db,
    "sha256_file": bakemigrate.db,
    "read_manifest": bakemigrate.backup,
}

AT_MOST = {
    "inspect_database": 5,  # the preflight (handed to the backup, the export and the reset), the backup's
    # integrity check of its copy, the import's look at the staging copy, the verification's two
    "ensure_not_in_use": 3,  # the preflight (handed to the backup), the switch's first look and under its lock
    "sha256_file": 9,  # the backup (the original before and after, the copy: handed forward), the two
    # documents, the staging copy after the reset and after the import, the switch's two
    "read_manifest": 2,  # the preflight's look for a backup to keep, the backup step's under the work folder's lock
    "staging connects": 8,  # the reset's copy (its tables made again on it), the import's look and insert,
    # the verification's look with the document and rules and its SQL comparison (own thread), the switch's
    # marks, and the verification's integrity check: its plan and its two parts side by side, beside the comparison
}
"""The most calls one `migrate` of the demo database may make; before the work folder and the runner
handed the inspection, the backup and the hashes forward it made 9, 4, 11, 8 and 10, and before the
reset, the import and the verification each read the staging database on as few connections as
they can it made 5, 3, 9, 2 and 10."""


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


def test_a_switch_after_a_verification_trusts_its_verdict(
    demo_db: Path, tmp_path: Path, counts: collections.Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bakemigrate.pipeline

    migration = Migration(demo_db, tmp_path / "work", progress=False)
    migration.backup()
    assert migration.verify().passed
    verified: list[object] = []
    monkeypatch.setattr(bakemigrate.pipeline, "verify", lambda *args, **kwargs: verified.append(args))
    assert Migration.resume(demo_db, tmp_path / "work", progress=False).switch(confirm=True).switched
    assert verified == []
