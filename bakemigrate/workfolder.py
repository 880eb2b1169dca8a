"""The work folder of one migration: its fixed paths, its journal, and the one check of a recorded file.

A [WorkFolder][bakemigrate.workfolder.WorkFolder] names every file a migration keeps in its work
folder (see `paths.WORK_FILES`) and holds the journal (``journal.json``): which steps are done,
with the SHA-256 of the file each one wrote. Reading the journal never creates the folder or
writes anything; the first record does, after the `start` record (the database and the
`--infer-losses` choice). `WorkFolder.state` is the one check behind every "done": the file a step
writes is there and is the very file the journal recorded for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backup import BACKUP_FOLDER, MANIFEST_NAME, backup_paths
from .db import sha256_file
from .errors import InvalidDocument, MigrationError
from .files import has_sidecar_files
from .jsonio import load_json, write_json_atomic
from .paths import make_private_folder, refuse_work_folder_holding

if TYPE_CHECKING:
    from .verify import VerifyResult

JOURNAL_NAME = "journal.json"
EXPORT_V10 = "export_v1.0.json"
EXPORT_V11 = "export_v1.1.json"
STAGING = "staging.db"

JOURNAL_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "start": {"db": str, "infer_losses": bool},
    "backup": {"sha256": str},
    "export": {"sha256": str, "consumptions": int},
    "transform": {"sha256": str},
    "reset": {"staging_sha256": str},
    "import": {"staging_sha256": str, "runs": int, "consumptions": int, "losses": int},
    "verify": {"verdict": str, "staging_sha256": str},
    "switch": {"sha256": str},
    "rollback": {"sha256": str},
}
"""The facts each step's record must hold, and their JSON types (a record may hold more)."""
_JSON_TYPES = {str: "a text", bool: "true or false", int: "a whole number"}

STAGING_STEPS = ("reset", "import", "verify")
"""The steps whose record vouches for the staging database, in order: each later one's file is also
the earlier ones' work (the reset forgets the records after it when it starts the staging over)."""


def journal_problem(data: Any) -> str | None:
    """What makes ``data`` not a journal bakemigrate wrote (None when it is one)."""
    if not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
        return 'not an object with a "steps" object'
    for step, record in data["steps"].items():
        if not isinstance(record, dict):
            return f"the record of step {step!r} is not an object"
        for key, kind in JOURNAL_FIELDS.get(step, {}).items():
            value = record.get(key)
            if type(value) is not kind:  # exact: true is not a whole number here
                shown = "missing" if key not in record else f"not {_JSON_TYPES[kind]}"  # type: ignore[index]
                return f"{step}.{key} is {shown}"
        marks = record.get("marks") if step == "switch" else None
        if marks is not None and not (isinstance(marks, dict) and all(
            isinstance(mark, list) and len(mark) == 2 and all(type(n) is int for n in mark) for mark in marks.values()
        )):
            return "switch.marks is not an object of [row count, largest rowid] pairs"
    return None


class Journal:
    """The record of which steps are done, kept in ``journal.json`` (rewritten atomically).

    Reading it writes nothing: a journal that is not there yet reads as empty.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # steps that run side by side record one at a time
        try:
            self.data: dict[str, Any] = load_json(path) if path.exists() else {"steps": {}}
        except InvalidDocument as exc:
            raise self._damaged(str(exc).removeprefix(f"{path}: ")) from None
        problem = journal_problem(self.data)
        if problem is not None:
            raise self._damaged(problem)

    def _damaged(self, problem: str) -> MigrationError:
        return MigrationError(
            f"work folder journal {self.path} is damaged: {problem}; remove the work folder or use another --workdir"
        )

    def get(self, step: str) -> dict[str, Any] | None:
        """The record of ``step``, or None."""
        return self.data["steps"].get(step)

    def record(self, step: str, **facts: Any) -> None:
        """Note that ``step`` is done, with its facts."""
        facts["at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            self.data["steps"][step] = facts
            write_json_atomic(self.path, self.data, force=True)

    def forget(self, *steps: str) -> None:
        """Drop the records of ``steps`` (they will run again)."""
        with self._lock:
            for step in steps:
                self.data["steps"].pop(step, None)
            write_json_atomic(self.path, self.data, force=True)


def recorded_sha256(step: str, record: dict[str, Any]) -> str:
    """The SHA-256 a step's record holds of the file it wrote (`staging_sha256` for the staging steps)."""
    return record["staging_sha256" if step in STAGING_STEPS else "sha256"]


@dataclass(frozen=True)
class Found:
    """What the work folder holds for one step, by `WorkFolder.state`."""

    status: str
    """`done` (the file is the one recorded), `missing` (neither), `gone` (recorded, no file any
    more), `unrecorded` (a file the journal does not vouch for) or `changed` (not the recorded file)."""
    record: dict[str, Any] | None
    """The journal's record of the step (None when there is none)."""
    path: Path
    """The file the step writes."""

    @property
    def done(self) -> bool:
        """True when the file is the very one the journal recorded for the step."""
        return self.status == "done"

    def why(self) -> str:
        """Why the step must run again, in a few words ("" when nothing is to say)."""
        if self.status == "gone":
            return f"{self.path.name} is not there any more"
        if self.status == "changed":
            return f"{self.path.name} is not the file the journal recorded"
        return ""


class WorkFolder:
    """The work folder ``path`` of the migration of the database ``db``."""

    def __init__(self, path: str | Path, db: Path, *, infer_losses: bool = False) -> None:
        self.path = Path(path)
        self.db = db
        self.infer_losses = infer_losses
        self.export_v10 = self.path / EXPORT_V10
        self.export_v11 = self.path / EXPORT_V11
        self.staging = self.path / STAGING
        self.journal_path = self.path / JOURNAL_NAME
        self.backup_file, self.manifest = backup_paths(db, self.path)
        self._journal: Journal | None = None
        self._hashes: dict[str, tuple[tuple[int, ...], str]] = {}

    # -- the journal -------------------------------------------------------------------------
    @property
    def journal(self) -> Journal:
        """The journal as it is in the folder (empty when there is none yet); reading writes nothing.

        Raises:
            MigrationError: the journal is damaged, belongs to another database, or was started with
                the other `--infer-losses` choice.
        """
        if self._journal is None:
            journal = Journal(self.journal_path)
            self._check_start(journal.get("start"))
            self._journal = journal
        return self._journal

    def _check_start(self, started: dict[str, Any] | None) -> None:
        """Refuse a journal started for another database, or with the other `--infer-losses` choice."""
        if started is None:
            return
        if started.get("db") != str(self.db.resolve()):
            raise MigrationError(
                f"{self.path}: this work folder belongs to {started.get('db')}, not to "
                f"{self.db.resolve()}; use another work folder (--workdir DIR)"
            )
        if bool(started.get("infer_losses")) != self.infer_losses:
            flag = "with" if started.get("infer_losses") else "without"
            raise MigrationError(
                f"{self.path}: this migration was started {flag} --infer-losses; "
                "run it the same way or use a new work folder"
            )

    def recorded_infer_losses(self) -> bool:
        """The `--infer-losses` choice the journal was started with (False when none is recorded yet)."""
        return bool((Journal(self.journal_path).get("start") or {}).get("infer_losses"))

    def create(self) -> None:
        """Create the folder, as private as the database (nothing when it is there).

        Raises:
            MigrationError: the folder holds the database, or it cannot be created.
        """
        refuse_work_folder_holding(self.db, self.path)
        try:
            make_private_folder(self.path, self.db)
        except OSError as exc:
            raise MigrationError(f"{self.path}: cannot create the work folder ({exc.strerror})") from None

    def record(self, step: str, **facts: Any) -> None:
        """Note in the journal that ``step`` is done, with its facts (the first record starts the journal)."""
        journal = self.journal
        if journal.get("start") is None:
            self.create()
            journal.record("start", db=str(self.db.resolve()), infer_losses=self.infer_losses)
        journal.record(step, **facts)

    def forget(self, *steps: str) -> None:
        """Drop the records of ``steps`` from the journal (they will run again)."""
        if any(self.journal.get(step) is not None for step in steps):
            self.journal.forget(*steps)

    # -- the files ---------------------------------------------------------------------------
    def sha256(self, path: Path) -> str:
        """The SHA-256 of ``path``, hashed again only when the file changed (inode, size or times)."""
        seen = self._seen(path)
        known = self._hashes.get(str(path))
        if known is None or known[0] != seen:
            known = self._hashes[str(path)] = (seen, sha256_file(path))
        return known[1]

    def remember(self, path: Path, sha256: str) -> None:
        """Note the SHA-256 of a file this run has just written or checked, so it is not hashed again."""
        self._hashes[str(path)] = (self._seen(path), sha256)

    @staticmethod
    def _seen(path: Path) -> tuple[int, ...]:
        st = path.stat()
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def output(self, step: str) -> Path:
        """The file ``step`` writes: the backup, a document, the staging database, or the database."""
        if step == "backup":
            return self.backup_file
        if step == "switch":
            return self.db
        return {"export": self.export_v10, "transform": self.export_v11}.get(step, self.staging)

    def state(self, step: str, *, alone: bool = False) -> Found:
        """Whether the file ``step`` writes is the one the journal recorded for it: the one check.

        The staging database is vouched for by the record of its step or of a later one (the
        import's file is also the reset's work), or with `alone` by its step's record only; a staging
        database with a `-journal` beside it was left in the middle of a write and is no step's file.
        """
        path, record = self.output(step), self.journal.get(step)
        later = STAGING_STEPS[STAGING_STEPS.index(step):] if step in STAGING_STEPS and not alone else ()
        vouching = later or (step,)
        records = [(name, done) for name in vouching if (done := self.journal.get(name)) is not None]
        if not path.exists():
            return Found("gone" if record is not None else "missing", record, path)
        if not records:
            return Found("unrecorded", None, path)
        if step in STAGING_STEPS and has_sidecar_files(path, ("-journal",)):
            return Found("changed", record, path)
        digest = self.sha256(path)
        if any(recorded_sha256(name, done) == digest for name, done in records):
            return Found("done", record or records[0][1], path)
        return Found("changed", record, path)

    def recorded(self, step: str, *, alone: bool = False) -> dict[str, Any] | None:
        """The journal's record of ``step`` when its file is the very one it recorded, else None."""
        found = self.state(step, alone=alone)
        return found.record if found.done else None

    def refuse_changed(self, step: str) -> None:
        """Refuse a document the journal recorded for ``step`` that changed since it was written.

        Raises:
            MigrationError: the file changed after the journal recorded it.
        """
        if self.state(step).status == "changed":
            raise MigrationError(f"{self.output(step)}: changed since it was written; use a new work folder")


def verdict(result: VerifyResult, *, staging_sha256: str, source_sha256: str) -> dict[str, str]:
    """The facts of a verify record: the verdict, on the staging database with `staging_sha256`,
    against the database with `source_sha256` (the backup, or the original it copies)."""
    return {"verdict": result.verdict, "staging_sha256": staging_sha256, "source_sha256": source_sha256}


def keep_verdict(db: str | Path, staging: str | Path, result: VerifyResult) -> Path | None:
    """Record a PASS of `bakemigrate verify` in the journal of the work folder whose staging
    database `staging` is (its `staging.db`, beside its backup), so that `switch` trusts it while
    both files stay as they were; return the journal (None when nothing is recorded).

    A FAIL is not recorded: it leaves a PASS of the same files (given under the rules the document
    was made with) as it is, and a staging database without a PASS is verified again by `switch`.

    Raises:
        MigrationError: another bakemigrate holds the work folder or `db`.
    """
    from .lock import hold

    staging, folder = Path(staging), Path(staging).parent
    if not result.passed or staging.name != STAGING or not (folder / BACKUP_FOLDER / MANIFEST_NAME).is_file():
        return None
    with hold(folder, db):
        journal = Journal(folder / JOURNAL_NAME)
        journal.record("verify", **verdict(result, staging_sha256=sha256_file(staging), source_sha256=sha256_file(db)))
    return journal.path
