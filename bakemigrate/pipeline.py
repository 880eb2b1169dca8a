"""The migration as a whole: every step in order, with a journal in the work folder.

`Migration` holds one database and one work folder. Each of its methods runs one step and is
safe to call again: the journal (``journal.json``) and the files already in the work folder decide
whether a step is done (its result is returned again) or must run. The original database is read
for the backup and only written by `Migration.switch` and `Migration.rollback`.
"""

from __future__ import annotations

import functools
import shutil
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backup import BackupResult, backup, backup_paths, check_backup_checksum, kept_backup, read_manifest
from .changes import Changes, changes_since, table_marks
from .db import (
    DatabaseInfo,
    broken_references,
    ensure_not_in_use,
    inspect_database,
    odd_timestamps,
    refuse_unexportable_values,
    sha256_file,
)
from .errors import DatabaseRefused, Declined, InvalidDocument, MigrationError, VerificationFailed
from .exporter import ExportResult, export, export_and_transform
from .files import remove_sidecar_files
from .importer import ImportReport, import_
from .jsonio import load_json, write_json_atomic
from .lock import hold, hold_database
from .paths import (
    make_private_folder,
    real_database,
    refuse_unwritable_database_folder,
    refuse_unwritable_work_folder,
    refuse_work_folder_holding,
)
from .reset import ResetResult, reset
from .rollback import RollbackPlan, RollbackResult, keep_copy, rollback
from .steps import PLAN
from .switch import SwitchResult, switch
from .transform import TransformReport, file_report, transform
from .verify import VerifyResult, verify

if TYPE_CHECKING:
    import pandas as pd

JOURNAL_NAME = "journal.json"
EXPORT_V10 = "export_v1.0.json"
EXPORT_V11 = "export_v1.1.json"
STAGING = "staging.db"
OPENED_BY_V07 = (
    "bake-tracker 0.7 has opened this file once: it added an empty production_losses table; "
    "the migration rebuilds it with the other production tables, as for a file 0.7 never opened"
)
"""What the preflight says of a v0.6 file that bake-tracker 0.7 has opened once."""
UNSAVED_WAL = (
    "the database holds unsaved changes from a crashed app (in {name}-wal, left when bake-tracker "
    "stopped without closing): they are read without being written, the backup includes them, "
    "and so does the migrated database"
)
"""What the preflight says of a database whose `-wal` holds changes no running app holds."""
EXPORT_BYTES_PER_ROW = 1200
"""Bytes of export per run and consumption, to estimate the free disk a migration needs."""


def confirm_or_refuse(yes: bool, question: str, *, db: str | Path, waiting: str) -> None:
    """Go on when `yes`; otherwise ask at a terminal, and refuse where nobody can answer.

    `waiting` says what stays ready for later (e.g. where the verified copy waits), in both refusals.

    Raises:
        Declined: the person said no (`db` is kept as it is; exit 1).
        MigrationError: there is no terminal to ask at (use `--yes`; exit 2).
    """
    if yes:
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise MigrationError(f"{question} Needs confirmation and there is no terminal to ask at: run again with "
                             f"--yes; {db} is kept as it is ({waiting})")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Declined(f"declined: {db} is kept as it is ({waiting})")


@dataclass
class Preflight:
    """What was checked before anything is written."""

    db: Path
    info: DatabaseInfo
    free_bytes: int
    needed_bytes: int
    already_migrated: bool

    def rows(self) -> list[tuple[str, str]]:
        """The checks, as ``(check, result)`` pairs."""
        return [
            ("database", str(self.db)),
            ("schema version", f"bake-tracker v{self.info.schema_version}"),
            ("size", f"{self.info.size_bytes / 1e6:,.1f} MB"),
            ("production runs", f"{self.info.runs:,}"),
            ("free disk in work folder", f"{self.free_bytes / 1e6:,.1f} MB"),
            ("disk the migration needs", f"{self.needed_bytes / 1e6:,.1f} MB"),
            ("bake-tracker closed", "yes" if not self.already_migrated else "not checked (nothing to do)"),
            *([("opened by bake-tracker 0.7", OPENED_BY_V07)] if self.info.opened_by_v07 else []),
            *([("unsaved changes", f"yes, in {self.db.name}-wal; the backup includes them")]
              if self.info.unsaved_wal and not self.already_migrated else []),
            *([("your own triggers, indexes, views", f"{self.info.own_objects} on the production tables, kept")]
              if self.info.own_objects else []),
        ]

    def notes(self) -> list[str]:
        """What a person should know about the file before it is migrated (one sentence each)."""
        notes = [OPENED_BY_V07] if self.info.opened_by_v07 else []
        if self.info.unsaved_wal and not self.already_migrated:
            notes.append(UNSAVED_WAL.format(name=self.db.name))
        if self.info.own_objects:
            notes.append(f"{self.info.own_objects} triggers, indexes or views of your own refer to the production "
                         "tables: each is kept, word for word, on the v0.7 tables (triggers made again after the rows)")
        return notes

    def frame(self) -> pd.DataFrame:
        """The checks as a small table."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=["check", "result"])

    def table_text(self) -> str:
        """The checks as plain text, each column aligned to the right (what `frame()` prints)."""
        lines = [("check", "result"), *self.rows()]
        widths = [max(len(line[i]) for line in lines) for i in range(2)]
        return "\n".join(" ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
                         for line in lines)

    def summary_line(self) -> str:
        """One line for the terminal."""
        if self.already_migrated:
            return f"{self.db} is already at bake-tracker v0.7: nothing to do"
        return "".join([
            f"preflight ok: {self.db} is bake-tracker v0.6 with {self.info.runs:,} production runs "
            f"({self.info.size_bytes / 1e6:,.1f} MB); {self.free_bytes / 1e9:,.1f} GB free",
            *(f"\n{note}" for note in self.notes()),
        ])


@dataclass
class MigrationResult:
    """The outcome of [Migration.run][bakemigrate.Migration.run]."""

    exit_code: int
    message: str
    verification: VerifyResult | None = None
    steps: list[str] = field(default_factory=list)
    """Each step of this run and whether it ran or was kept from an earlier run, e.g. `backup (done earlier)`."""
    outcome: str = ""
    """`migrated`, `already-migrated`, `dry-run`, `verification-failed` or `declined`."""

    def summary_line(self) -> str:
        """One line for the terminal."""
        return self.message


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
    """The record of which steps are done, kept in ``journal.json`` (rewritten atomically)."""

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


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a step of `Migration` holding the locks of its work folder and database (see `lock.hold`)."""

    @functools.wraps(method)
    def locked(self: Migration, *args: Any, **kwargs: Any) -> Any:
        with hold(self.workdir, self.db):
            return method(self, *args, **kwargs)

    return locked


def _existing(folder: Path) -> Path:
    """`folder`, or its nearest parent that exists (where a folder to create would be)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(_existing(folder)).free


def _same_disk(a: Path, b: Path) -> bool:
    try:
        return _existing(a).stat().st_dev == _existing(b).stat().st_dev
    except OSError:
        return True


def _shortfall(needed: int, free: int) -> tuple[str, str, str]:
    """What is needed (rounded up), what is free (rounded down) and the difference, in MB to 0.1 MB."""
    need, have = -(-needed // 100_000), free // 100_000
    return tuple(f"{tenths / 10:,.1f} MB" for tenths in (need, have, need - have))  # type: ignore[return-value]


class Migration:
    """One database's migration from v0.6 to v0.7 through the work folder ``workdir``."""

    def __init__(
        self,
        db: str | Path,
        workdir: str | Path,
        *,
        infer_losses: bool | None = False,
        progress: bool = True,
    ) -> None:
        self.db = real_database(db)  # a symbolic link stays: the file it points to is migrated
        self.workdir = Path(workdir)
        self.infer_losses = infer_losses
        self.progress = progress
        self.export_v10 = self.workdir / EXPORT_V10
        self.export_v11 = self.workdir / EXPORT_V11
        self.staging = self.workdir / STAGING
        self._journal: Journal | None = None
        self._transform_report: TransformReport | None = None
        self._hashes: dict[str, tuple[tuple[int, ...], str]] = {}

    def _sha256(self, path: Path) -> str:
        """The SHA-256 of ``path``, hashed again only when the file changed (inode, size or times)."""
        st = path.stat()
        seen = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        known = self._hashes.get(str(path))
        if known is None or known[0] != seen:
            known = self._hashes[str(path)] = (seen, sha256_file(path))
        return known[1]

    # -- the work folder ---------------------------------------------------------------------
    @property
    def journal(self) -> Journal:
        """The journal, creating the work folder on first use."""
        if self._journal is None:
            refuse_work_folder_holding(self.db, self.workdir)
            try:
                make_private_folder(self.workdir, self.db)
            except OSError as exc:
                raise MigrationError(f"{self.workdir}: cannot create the work folder ({exc.strerror})") from None
            journal = Journal(self.workdir / JOURNAL_NAME)
            started = journal.get("start")
            self._check_start(started)
            if started is None:
                self.infer_losses = bool(self.infer_losses)
                journal.record("start", db=str(self.db.resolve()), infer_losses=self.infer_losses)
            self._journal = journal
        return self._journal

    def _check_start(self, started: dict[str, Any] | None) -> None:
        """Refuse a journal started for another database, or with the other `--infer-losses` choice."""
        if started is None:
            return
        if started.get("db") != str(self.db.resolve()):
            raise MigrationError(
                f"{self.workdir}: this work folder belongs to {started.get('db')}, not to "
                f"{self.db.resolve()}; use another work folder (--workdir DIR)"
            )
        if self.infer_losses is None:
            self.infer_losses = bool(started.get("infer_losses"))
        elif bool(started.get("infer_losses")) != self.infer_losses:
            flag = "with" if started.get("infer_losses") else "without"
            raise MigrationError(
                f"{self.workdir}: this migration was started {flag} --infer-losses; "
                "run it the same way or use a new work folder"
            )

    def _check_places(self) -> None:
        """What the real run would stop at when it first writes, checked before anything is written.

        The work folder is not the database's folder (nor any file in it the database), can be
        created and written; the database's folder can be written (for the switch); the journal and
        the backup already there belong to this database as it is now, and the exports the journal
        vouches for are unchanged.
        """
        refuse_work_folder_holding(self.db, self.workdir)
        refuse_unwritable_work_folder(self.workdir)
        refuse_unwritable_database_folder(self.db)
        journal_file = self.workdir / JOURNAL_NAME
        journal = self._journal
        if journal is None and journal_file.is_file():
            journal = Journal(journal_file)
            self._check_start(journal.get("start"))
        kept_backup(self.db, self.workdir)
        if journal is not None:
            for step, path in (("export", self.export_v10), ("transform", self.export_v11)):
                self._refuse_changed(path, journal.get(step))

    def _refuse_changed(self, path: Path, done: dict[str, Any] | None) -> None:
        """Refuse a work file that the journal recorded (`done`) and that changed since.

        Raises:
            MigrationError: ``path`` changed after the journal recorded it.
        """
        if done is not None and path.exists() and self._sha256(path) != done["sha256"]:
            raise MigrationError(f"{path}: changed since it was written; use a new work folder")

    def _backup_record(self) -> BackupResult:
        existing = read_manifest(self.db, self.workdir)
        if existing is None:
            raise MigrationError(f"{self.workdir}: no backup yet; run the backup step first")
        return existing

    # -- the steps ---------------------------------------------------------------------------
    def preflight(self) -> Preflight:
        """Step 0: the database exists, is sound, is bake-tracker's, its version, disk, app closed.

        Raises:
            DatabaseRefused: any reason not to start, in one sentence.
        """
        # quick_check here; the backup runs the full integrity_check on its copy before anything else
        info = inspect_database(self.db, quick=True)
        free = _free_bytes(self.workdir)
        rows = sum(info.row_counts.get(t, 0) for t in ("production_runs", "production_consumptions"))
        needed = 2 * info.size_bytes + 2 * EXPORT_BYTES_PER_ROW * rows
        already = info.schema_version == "0.7"
        if not already:
            self._check_places()
            ensure_not_in_use(self.db)
            refuse_unexportable_values(self.db)
            broken = broken_references(self.db)
            if broken:
                where = ", ".join(f"{count} in {table}" for table, count in sorted(broken.items()))
                raise DatabaseRefused(
                    f"{self.db}: {sum(broken.values())} rows point to rows that do not exist ({where}); "
                    "repair the database or restore a sound backup before migrating"
                )
            odd = odd_timestamps(self.db)
            if odd is not None:
                raise DatabaseRefused(
                    f"{self.db}: {odd.table} row {odd.row_id} (production run {odd.run_id}) has {odd.column} = "
                    f"{odd.value!r}, not a date and time as bake-tracker stores them (YYYY-MM-DD HH:MM:SS.ffffff); "
                    f"{odd.count} such values in the production tables; correct them in the database or restore "
                    "an earlier copy, then run again"
                )
            if free < needed:
                need, have, short = _shortfall(needed, free)
                raise DatabaseRefused(
                    f"{self.workdir}: not enough free disk: needs {need} in {_existing(self.workdir)} (the backup, "
                    f"the exports and the staging copy), {have} free: free at least {short} there, or choose a "
                    "work folder on another disk (--workdir DIR)"
                )
            folder = self.db.parent
            if not _same_disk(self.workdir, folder):  # the switch copies the new file beside the database first
                beside = _free_bytes(folder)
                if beside < info.size_bytes:
                    need, have, short = _shortfall(info.size_bytes, beside)
                    raise DatabaseRefused(
                        f"{folder}: not enough free disk beside the database: needs {need} (the migrated copy the "
                        f"switch puts there), {have} free: free at least {short} there"
                    )
        return Preflight(self.db, info, free, needed, already)

    @_locked
    def backup(self) -> BackupResult:
        """Step 1: a checked copy of the database (kept, never overwritten)."""
        result = backup(self.db, self.workdir, progress=self.progress)
        recorded = self.journal.get("backup")
        if recorded is None or recorded.get("sha256") != result.sha256:  # a backup kept is not recorded again
            self.journal.record("backup", sha256=result.sha256)
        return result

    @_locked
    def export(self) -> ExportResult:
        """Step 2: the production history of the backup as a v1.0 document."""
        source = self._backup_record()
        done = self._recorded_artefact(self.export_v10, "export")
        if done is not None:
            return ExportResult(
                path=self.export_v10, version="1.0", runs=source.runs, consumptions=done["consumptions"],
                losses=0, size_bytes=self.export_v10.stat().st_size,
            )
        check_backup_checksum(source)
        fused = self._recorded_artefact(self.export_v11, "transform") is None  # else: from an older export
        if fused:  # the transform (step 3) is written in the same pass: the export is not read back
            result, self._transform_report = export_and_transform(
                source.path, self.export_v10, self.export_v11, infer_losses=bool(self.infer_losses),
                progress=self.progress,
            )
        else:
            result = export(source.path, self.export_v10, progress=self.progress)
        self.journal.record("export", sha256=self._sha256(self.export_v10), consumptions=result.consumptions)
        if fused:
            self.journal.record("transform", sha256=self._sha256(self.export_v11))
        return result

    def _recorded_artefact(self, path: Path, step: str) -> dict[str, Any] | None:
        """The journal record of ``step`` when ``path`` is the file it recorded, else None.

        A file the journal does not vouch for is the complete output of a step that was interrupted
        before it was recorded (files are written atomically): it is removed and the step runs again.

        Raises:
            MigrationError: ``path`` changed after the journal recorded it.
        """
        done = self.journal.get(step)
        if not path.exists():
            return None
        if done is None:
            path.unlink()
            return None
        self._refuse_changed(path, done)
        return done

    @_locked
    def transform(self) -> TransformReport:
        """Step 3: the v1.0 document → v1.1 (every run complete with 0 losses, or inferred losses).

        The export step writes the v1.1 document in the same pass; this step then checks it and
        returns its report. A v1.0 document alone (an interrupted run) is transformed from the file.
        """
        if not self._journaled("export", self.export_v10):
            self.export()
        if self._recorded_artefact(self.export_v11, "transform") is not None:
            if self._transform_report is None:  # a re-run in a new process: describe the recorded output
                self._transform_report = file_report(self.export_v10, infer_losses=self.infer_losses)
            return self._transform_report
        self._transform_report = transform(self.export_v10, self.export_v11, infer_losses=self.infer_losses)
        self.journal.record("transform", sha256=self._sha256(self.export_v11))
        return self._transform_report

    def _vouched(self, path: Path, step: str) -> bool:
        """True when ``path`` is the very file the journal recorded as the output of ``step``."""
        done = self.journal.get(step)
        return done is not None and path.exists() and self._sha256(path) == done["sha256"]

    def _journaled(self, step: str, path: Path) -> bool:
        """True when the journal records ``step`` and its output file is there (no re-hash: the step
        itself checks the checksum whenever it is called)."""
        return self.journal.get(step) is not None and path.exists()

    @_locked
    def reset(self) -> ResetResult:
        """Step 4: a fresh staging database (v0.7 production tables, empty). Starts the staging over."""
        source = self._backup_record()
        check_backup_checksum(source)
        self.journal.forget("import", "verify")
        # An import killed mid-transaction leaves a hot -journal: it must not pair with the new file.
        remove_sidecar_files(self.staging, with_file=True)
        result = reset(source.path, self.staging)
        self.journal.record("reset", staging_sha256=self._sha256(self.staging))
        return result

    @_locked
    def import_(self) -> ImportReport:
        """Step 5: the v1.1 document into the staging database, all or nothing."""
        if not self._journaled("transform", self.export_v11):
            self.transform()
        done = self._imported()
        if done is not None:
            return ImportReport(path=self.export_v11, staging=self.staging, version="1.1",
                                runs=done["runs"], consumptions=done["consumptions"], losses=done["losses"])
        if not self._staging_waiting():
            self.reset()  # no empty staging database is waiting: (re)build it
        # bakemigrate's own output, proven unchanged since it was written: the schema check is not needed.
        trusted = self._vouched(self.export_v11, "transform")
        report = import_(self.export_v11, self.staging, progress=self.progress, trusted=trusted)
        self.journal.record("import", staging_sha256=self._sha256(self.staging), runs=report.runs,
                            consumptions=report.consumptions, losses=report.losses)
        return report

    def _imported(self) -> dict[str, Any] | None:
        """The journal's record of the import when the staging database is still the one it recorded."""
        done = self.journal.get("import")
        if done is not None and self.staging.exists() and self._sha256(self.staging) == done["staging_sha256"]:
            return done
        return None

    def _staging_waiting(self) -> bool:
        """True when the staging database the reset step recorded is there, unchanged (empty, ready)."""
        fresh = self.journal.get("reset")
        staged = self.staging.exists() and not Path(f"{self.staging}-journal").exists()
        return bool(fresh and staged and fresh.get("staging_sha256") == self._sha256(self.staging))

    @_locked
    def verify(self) -> VerifyResult:
        """Step 6: compare the staging database with the backup and the v1.0 document."""
        self.import_()
        source = self._backup_record()
        trusted = self._vouched(self.export_v10, "export")
        result = verify(source.path, self.staging, self.export_v10,
                        expected=self.export_v11 if self.infer_losses else None, trusted=trusted,
                        infer_losses=bool(self.infer_losses))
        self.journal.record("verify", verdict=result.verdict, staging_sha256=self._sha256(self.staging))
        return result

    def _verify_files(self) -> dict[str, Any]:
        """Verify the staging database found in the work folder (made step by step, without the journal)."""
        if not self.staging.exists() or not self.export_v10.exists():
            raise MigrationError(
                f"{self.workdir}: no verified staging database; run `bakemigrate migrate` (or the steps) first"
            )
        source = self._backup_record()
        expected = self.export_v11 if self.export_v11.exists() else None
        result = verify(source.path, self.staging, self.export_v10, expected=expected)
        self.journal.record("verify", verdict=result.verdict, staging_sha256=self._sha256(self.staging))
        return self.journal.get("verify") or {}

    @_locked
    def switch(self, confirm: bool) -> SwitchResult:
        """Step 7: replace the database with the verified staging copy (only when ``confirm``)."""
        done = self.journal.get("switch")
        if done is not None and self.db.exists() and self._sha256(self.db) == done["sha256"]:
            return SwitchResult(db=self.db, switched=True, sha256=done["sha256"])
        verified = self.journal.get("verify")
        if (
            verified is not None and verified["verdict"] == "PASS" and not self.staging.exists()
            and self.db.exists() and self._sha256(self.db) == verified["staging_sha256"]
        ):  # renamed into place, then stopped before the journal recorded it
            self.journal.record("switch", sha256=verified["staging_sha256"], marks=table_marks(self.db))
            return SwitchResult(db=self.db, switched=True, sha256=verified["staging_sha256"])
        if verified is None or not self.staging.exists() or self._sha256(self.staging) != verified["staging_sha256"]:
            verified = self._verify_files()
        if verified["verdict"] != "PASS":
            raise VerificationFailed("the migrated copy has not passed verification; nothing was switched")
        if not confirm:
            return SwitchResult(db=self.db, switched=False,
                                reason=f"confirmation needed; the verified database waits in {self.staging}")
        source = self._backup_record()
        marks = table_marks(self.staging)  # the switched-in file as it is: the app may write to it at once
        result = switch(self.db, self.staging, original_sha256=(source.original_sha256, source.sha256),
                        original_wal_sha256=source.original_wal_sha256,
                        staging_sha256=verified["staging_sha256"])
        self.journal.record("switch", sha256=result.sha256, marks=marks)
        return result

    def rollback_plan(self) -> RollbackPlan:
        """What a rollback would do, before it does it: nothing, or restore the backup and discard `changes`.

        Raises:
            MigrationError: the database was never switched by this work folder (nothing to roll back;
                the database is kept as it is, with everything the app wrote to it).
        """
        refuse_work_folder_holding(self.db, self.workdir)
        source = self._backup_record()
        current = self._sha256(self.db) if self.db.exists() else None
        if current in (source.original_sha256, source.sha256):
            return RollbackPlan(self.db, source.path, needed=False)
        switched = self.journal.get("switch")
        verified = self.journal.get("verify") or {}
        if switched is None and current is not None and current == verified.get("staging_sha256"):
            switched = {"sha256": current}  # renamed into place, stopped before the journal recorded it
        if switched is None:
            raise MigrationError(
                f"nothing to roll back: {self.db} was never replaced by the migration in {self.workdir}; "
                "it is kept as it is, with everything the app wrote to it"
            )
        changes = Changes()
        if current is not None and current != switched.get("sha256"):
            changes = changes_since(self.db, switched.get("marks") or {})
            changes.file_changed = True
        return RollbackPlan(self.db, source.path, needed=True, changes=changes)

    @_locked
    def rollback(self, confirm: bool) -> RollbackResult:
        """Put the backup back in place of the database (only when `confirm`).

        The database as it is now is first kept as a new, timestamped copy in the work folder, so the
        rollback itself can be undone; nothing the app wrote since the switch is lost.
        """
        plan = self.rollback_plan()
        if not confirm:
            raise MigrationError("rollback needs confirmation: nothing was changed")
        source = self._backup_record()
        kept = keep_copy(self.db, self.workdir) if plan.needed and self.db.exists() else None
        result = rollback(self.db, source)
        result.kept = kept
        result.changes = plan.changes
        self.journal.record("rollback", sha256=result.sha256, kept=str(kept) if kept else None)
        self.journal.forget("switch")
        return result

    # -- all at once ---------------------------------------------------------------------------
    def plan_lines(self) -> list[str]:
        """What a run would do, one line a step: kept from an earlier run (the journal records it and
        its file is still there) or to run, and why. Reads the journal; writes nothing."""
        from .terminal import when

        journal_file = self.workdir / JOURNAL_NAME
        records = Journal(journal_file).data["steps"] if journal_file.exists() else {}
        outputs = {"backup": backup_paths(self.db, self.workdir)[0], "export": self.export_v10,
                   "transform": self.export_v11, "reset": self.staging, "import": self.staging,
                   "verify": self.staging}
        lines, redo = [], False
        for step in (planned.name for planned in PLAN):
            record, output = records.get(step), outputs.get(step)
            if record is not None and not redo and output is not None and output.exists():
                lines.append(f"{step}: done earlier ({when(record.get('at'))}), kept")
                continue
            gone = record is not None and not redo and output is not None
            lines.append(f"{step}: to run ({output.name} is not there any more)" if gone else f"{step}: to run")
            redo = True
        return lines

    def run(
        self,
        *,
        yes: bool = False,
        dry_run: bool = False,
        echo: Callable[[str], Any] = print,
        on_step: Callable[[str, Any, dict[str, Any] | None], Any] | None = None,
    ) -> MigrationResult:
        """Every step in order: 0 migrated (or already v0.7), 1 verification failed or declined, 2 refused.

        `dry_run` prints the plan and touches nothing. Without `yes` the switch is confirmed at
        the terminal. Each step's result goes to `on_step(step, result, earlier)`, where `earlier` is
        the journal's record when the step was done by an earlier run and kept (None when it ran now);
        without `on_step`, each result's summary line goes to `echo`.
        """
        report = on_step or (lambda step, result, earlier: echo(
            result.summary_table() + "\n" + result.summary_line() if step == "verify" else result.summary_line()))
        with hold_database(self.db, self.workdir):  # before the first look, so two runs never meet
            return self._run(yes=yes, dry_run=dry_run, echo=echo, report=report)

    def _run(self, *, yes: bool, dry_run: bool, echo: Callable[[str], Any],
             report: Callable[[str, Any, dict[str, Any] | None], Any]) -> MigrationResult:
        """`run`, the database's lock held."""
        journal_file = self.workdir / JOURNAL_NAME
        if self.db.exists():
            try:
                info = inspect_database(self.db, integrity=False)
            except DatabaseRefused:
                info = None
            if info is not None and info.schema_version == "0.7":
                if journal_file.exists():
                    switched = self.switch(confirm=False) if self.journal.get("verify") else None
                    if switched is not None and switched.switched:
                        return MigrationResult(0, f"{self.db} is already migrated to bake-tracker v0.7: nothing to do",
                                               outcome="already-migrated")
                return MigrationResult(0, f"{self.db} is already at bake-tracker v0.7: nothing to do",
                                       outcome="already-migrated")
        pre = self.preflight()
        if journal_file.exists():
            Journal(journal_file)  # a damaged journal is refused before anything is written
        if dry_run:
            echo(pre.table_text())
            echo("plan:\n" + "\n".join(f"  {line}" for line in self.plan_lines()))
            return MigrationResult(0, "dry run: nothing was changed", outcome="dry-run")
        with hold(self.workdir, self.db):
            return self._run_steps(pre, yes, report)

    def _run_steps(self, pre: Preflight, yes: bool, report: Callable[[str, Any, dict[str, Any] | None], Any]
                   ) -> MigrationResult:
        """The steps of `run` after the preflight, the locks held."""
        steps: list[str] = []
        kept_before = dict(self.journal.data["steps"])  # the records of earlier runs, by identity

        def done(step: str, result: Any) -> Any:
            record = self.journal.get(step)
            earlier = record if record is not None and kept_before.get(step) is record else None
            steps.append(f"{step} ({'done earlier' if earlier else 'ran'})")
            report(step, result, earlier)
            return result

        report("preflight", pre, None)
        done("backup", self.backup())
        # The staging copy needs only the backup: it is built in a second thread during the export
        # (SQLite copies without the GIL), unless a sound one is already waiting.
        with ThreadPoolExecutor(max_workers=1) as pool:
            staged = None if self._imported() or self._staging_waiting() else pool.submit(self.reset)
            done("export", self.export())
            done("transform", self.transform())
            if staged is not None:
                done("reset", staged.result())
        done("import", self.import_())
        result = done("verify", self.verify())
        if not result.passed:
            return MigrationResult(1, "FAIL: verification failed; the original is untouched", result, steps,
                                   outcome="verification-failed")
        try:
            confirm_or_refuse(yes, f"Verified. Replace {self.db} with the migrated database?", db=self.db,
                              waiting=f"not switched; the verified copy waits in {self.staging}")
        except Declined as exc:
            return MigrationResult(1, str(exc), result, steps, outcome="declined")
        done("switch", self.switch(confirm=True))
        return MigrationResult(
            0, f"PASS: {self.db} migrated to bake-tracker v0.7 and verified; backup in {self._backup_record().path}",
            result, steps, outcome="migrated",
        )


def migrate(
    db: str | Path,
    workdir: str | Path,
    *,
    yes: bool = False,
    dry_run: bool = False,
    infer_losses: bool = False,
    progress: bool = True,
    echo: Callable[[str], Any] = print,
    on_step: Callable[[str, Any, dict[str, Any] | None], Any] | None = None,
) -> MigrationResult:
    """Run the whole migration of `db` with `workdir` as its work folder.

    See [Migration.run][bakemigrate.Migration.run] for the outcome and the exit codes.
    """
    return Migration(db, workdir, infer_losses=infer_losses, progress=progress).run(
        yes=yes, dry_run=dry_run, echo=echo, on_step=on_step
    )
