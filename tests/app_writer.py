"""A stand-in for bake-tracker writing to its database, for the concurrency tests.

``python tests/app_writer.py DB GO COUNT INTERVAL MODE`` waits until the file ``GO`` exists, then
commits ``COUNT`` rows into ``inventory_snapshots`` (named ``writer-0``, ``writer-1``…), one every
``INTERVAL`` seconds. MODE ``connected`` keeps one connection open, as the app does, and opens a new
one after an error; ``fresh`` opens a connection per row. After each row it prints ``ok N`` once
the commit returned, or ``err N <message>`` when it failed; only ``ok`` rows were committed.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import uuid

ROW = ("INSERT INTO inventory_snapshots (name, snapshot_date, description, uuid, created_at, updated_at) "
       "VALUES (?, '2024-05-01 10:00:00', 'written during the migration', ?, "
       "'2024-05-01 10:00:00', '2024-05-01 10:00:00')")


def main(db: str, go: str, count: int, interval: float, mode: str) -> None:
    while not os.path.exists(go):
        time.sleep(0.0002)
    conn: sqlite3.Connection | None = None
    for n in range(count):
        try:
            if conn is None:
                conn = sqlite3.connect(db, timeout=5)
            conn.execute(ROW, (f"writer-{n}", str(uuid.uuid4())))
            conn.commit()
            print(f"ok {n}", flush=True)
        except sqlite3.Error as exc:
            print(f"err {n} {exc}", flush=True)
            if conn is not None:
                conn.close()
            conn = None
        if mode == "fresh" and conn is not None:
            conn.close()
            conn = None
        time.sleep(interval)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
