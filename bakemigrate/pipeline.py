"""The migration as a whole: every step in order, with a journal in the work folder.

`Migration` holds one database and one work folder. Each of its methods runs one step and is
safe to call again: the journal (``journal.json``) and the files already in the work folder decide
whether a step is done (its result is returned again) or must run. The original database is read
for the backup and only written by `Migration.switch` and `Migration.rollback`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backup import BackupResult, backup, check_backup_checksum, kept_backup, read_manifest
from .changes import Changes, changes_since, table_marks
from .db import (
    DatabaseInfo,
    broken_references,
    ensure_not_in_use,
    inspect_database,
    odd_timestamps,
    refuse_unexportable_values,
    refuse_unless_sound,
)
from .errors import DatabaseRefused, Declined, MigrationError, VerificationFailed
from .exporter import ExportResult, export_and_transform
from .files import remove_sidecar_files
from .importer import ImportReport, import_
from .lock import hold, hold_database
from .paths import (
    real_database,
    refuse_unwritable_database_folder,
    refuse_unwritable_work_folder,
    refuse_work_folder_holding,
)
from .reset import ResetResult, reset
from .rollback import RollbackPlan, RollbackResult, keep_copy, rollback
from .runner import Planned, resolve
from .steps import everything_before
from .switch import SwitchResult, switch
from .transform import TransformReport, file_report, transform
from .verify import VerifyResult, verify
from .workfolder import (  # noqa: F401 - the journal's names, importable from here as before
    EXPORT_V10,
    EXPORT_V11,
    JOURNAL_FIELDS,
    JOURNAL_NAME,
    STAGING,
    Journal,
    WorkFolder,
    journal_problem,
    verdict,
)

if TYPE_CHECKING:
    import pandas as pd

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
"""Bytes of export per run and consumption, to estimate the free disk a migration needs: about twice
a row's real size, which also leaves room for the files of the second half of a large export and
import (`bakemigrate.halves`) while they are written."""


Ask = Callable[[str], "bool | None"]
"""Asks a person a yes/no question: True for yes, False for no, None when nobody can answer."""


def confirm_or_refuse(yes: bool, ask: Ask | None, question: str, *, db: str | Path, waiting: str) -> None:
    """Go on when `yes`, or when `ask(question)` says yes; refuse otherwise.

    `ask` belongs to the caller (the command line asks at the terminal); without one, or when it says
    nobody can answer, the question is refused. `waiting` says what stays ready for later.

    Raises:
        Declined: the person said no (`db` is kept as it is; exit 1).
        MigrationError: nobody can answer (use `--yes`; exit 2).
    """
    if yes:
        return
    answer = ask(question) if ask is not None else None
    if answer is None:
        raise MigrationError(f"{question} Needs confirmation and there is no terminal to ask at: run again with "
                             f"--yes; {db} is kept as it is ({waiting})")
    if not answer:
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


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a step of `Migration` holding the locks of its work folder and database (see `lock.hold`),
    once the work folder is known not to hold the database."""

    @functools.wraps(method)
    def locked(self: Migration, *args: Any, **kwargs: Any) -> Any:
        refuse_work_folder_holding(self.db, self.workdir)
        with hold(self.workdir, self.db):
            return method(self, *args, **kwargs)

    return locked


def _log(message: str) -> None:
    """What a step says when no ``echo`` is given: the ``bakemigrate`` logger's info."""
    import logging

    logging.getLogger("bakemigrate").info(message)


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
    """One database's migration from v0.6 to v0.7 through the work folder ``workdir``.

    `infer_losses` is the `--infer-losses` choice, recorded in the journal by the first step; a
    journal started with the other choice is refused. `Migration.resume` goes on with the choice
    the journal records. A step method run before the steps it needs runs those first, through
    the same plan as `run` (the backup excepted: it is never made behind the caller's back), and
    says so on `echo` (by default, the `bakemigrate` logger at level INFO).
    """

    def __init__(
        self,
        db: str | Path,
        workdir: str | Path,
        *,
        infer_losses: bool = False,
        progress: bool = True,
        echo: Callable[[str], Any] | None = None,
    ) -> None:
        if not isinstance(infer_losses, bool):
            raise TypeError("infer_losses is True or False; Migration.resume(db, workdir) reads it from the journal")
        self.db = real_database(db)  # a symbolic link stays: the file it points to is migrated
        self.workdir = Path(workdir)
        self.folder = WorkFolder(self.workdir, self.db, infer_losses=infer_losses)
        self.progress = progress
        self.echo = echo or _log
        self.export_v10 = self.folder.export_v10
        self.export_v11 = self.folder.export_v11
        self.staging = self.folder.staging
        self._transform_report: TransformReport | None = None
        self._backup: BackupResult | None = None
        self._inspected: DatabaseInfo | None = None  # the preflight's look, handed forward within one run
        self._exported_alongside: tuple[ExportResult, TransformReport] | None = None  # see `_backup_and_export`
        self._staged_alongside: ResetResult | None = None

    @classmethod
    def resume(cls, db: str | Path, workdir: str | Path, *, progress: bool = True,
               echo: Callable[[str], Any] | None = None) -> Migration:
        """The migration the journal of `workdir` records, with the `--infer-losses` choice it was
        started with (without it when nothing is recorded yet). Reads the journal; writes nothing.

        Raises:
            MigrationError: the journal is damaged, or belongs to another database.
        """
        folder = WorkFolder(workdir, real_database(db))
        return cls(db, workdir, infer_losses=folder.recorded_infer_losses(), progress=progress, echo=echo)

    @property
    def infer_losses(self) -> bool:
        """Whether past shortfalls are recorded as losses (`--infer-losses`)."""
        return self.folder.infer_losses

    @property
    def journal(self) -> Journal:
        """The journal of the work folder as it is (reading it writes nothing)."""
        return self.folder.journal

    # -- the work folder ---------------------------------------------------------------------
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
        self.folder.journal  # noqa: B018 - a damaged or foreign journal is refused here
        self._backup = kept = kept_backup(self.db, self.workdir)
        if kept is not None:
            self.folder.remember(kept.path, kept.sha256)  # checked just now
        for step in ("export", "transform"):
            self.folder.refuse_changed(step)

    def _backup_record(self) -> BackupResult:
        """The backup of this run: read from its manifest once, then handed forward."""
        if self._backup is None:
            self._backup = read_manifest(self.db, self.workdir)
        if self._backup is None:
            raise MigrationError(f"{self.workdir}: no backup yet; run the backup step first")
        return self._backup

    def _checked_backup(self) -> BackupResult:
        """The backup, proven to be the file its manifest describes (hashed once while it is unchanged)."""
        source = self._backup_record()
        if not (source.path.exists() and self.folder.sha256(source.path) == source.sha256):
            check_backup_checksum(source)  # finishes an interrupted rename, or says what is wrong
            self.folder.remember(source.path, source.sha256)
        return source

    def _run_missing(self, name: str) -> None:
        """Run the steps `name` needs that are not done yet, in the plan's order, saying so on `echo`.

        Raises:
            MigrationError: there is no backup yet (the backup is never made here).
        """
        self._backup_record()
        needed = everything_before(name)
        plan = resolve(self.folder, name)
        if plan[name].done:  # its work stands (the import: judged from the document it imported)
            return
        for planned in plan.values():
            if planned.step.name in needed and planned.step.name != "backup" and not planned.done:
                if not self.folder.state(planned.step.name).done:  # a step run just before may have made it
                    self.echo(f"{name} needs {planned.step.name} first: running it")
                    getattr(self, planned.step.method)()

    # -- the steps ---------------------------------------------------------------------------
    def preflight(self) -> Preflight:
        """Step 0: the database exists, is sound, is bake-tracker's, its version, disk, app closed.

        Raises:
            DatabaseRefused: any reason not to start, in one sentence.
        """
        # quick_check here; the backup runs the full integrity_check on its copy before anything else.
        # It runs beside the reads below; a database it finds corrupt is refused as corrupt first,
        # whatever else would refuse it (as when it ran before everything).
        try:
            info = inspect_database(self.db, integrity=False)
        except DatabaseRefused:
            inspect_database(self.db, quick=True)  # its refusal, when the check has one
            raise
        free = _free_bytes(self.workdir)
        rows = sum(info.row_counts.get(t, 0) for t in ("production_runs", "production_consumptions"))
        needed = 2 * info.size_bytes + 2 * EXPORT_BYTES_PER_ROW * rows
        already = info.schema_version == "0.7"
        if already:
            refuse_unless_sound(self.db)
        else:
            try:
                self._check_places()
                ensure_not_in_use(self.db)  # before any read of this process holds the file
            except DatabaseRefused:
                refuse_unless_sound(self.db)
                raise
            # the timestamp check (the longest read) runs beside the quick check and the two other reads
            # of every production value, on two cores (SQLite works without the GIL); the refusals keep
            # this order: a corrupt file is refused before anything is read from its tables
            with ThreadPoolExecutor(max_workers=1) as pool:
                odd_found = pool.submit(odd_timestamps, self.db)  # waited for, even when a refusal comes first
                refuse_unless_sound(self.db)
                refuse_unexportable_values(self.db)
                broken = broken_references(self.db)
                odd = odd_found.result()
            if broken:
                where = ", ".join(f"{count} in {table}" for table, count in sorted(broken.items()))
                raise DatabaseRefused(
                    f"{self.db}: {sum(broken.values())} rows point to rows that do not exist ({where}); "
                    "repair the database or restore a sound backup before migrating"
                )
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
        return self._backup_step(None)

    def _backup_step(self, inspected: DatabaseInfo | None,
                     alongside: Callable[[Path], object] | None = None) -> BackupResult:
        """`backup`; `inspected` is the preflight's look at the database in this same run, which also
        checked the backup it found (neither is done again). `alongside` reads a new backup while it
        is checked (see `bakemigrate.backup.backup`)."""
        if inspected is not None and self._backup is not None:
            result = self._backup
        else:
            result = backup(self.db, self.workdir, progress=self.progress, inspected=inspected, alongside=alongside)
        self._backup = result
        self.folder.remember(result.path, result.sha256)  # made and hashed, or checked, just now
        recorded = self.journal.get("backup")
        if recorded is None or recorded.get("sha256") != result.sha256:  # a backup kept is not recorded again
            self.folder.record("backup", sha256=result.sha256)
        return result

    @_locked
    def export(self) -> ExportResult:
        """Step 2: the production history of the backup as a v1.0 document, and its v1.1 transform.

        The transform (step 3) is written in the same pass: the export is not read back.
        """
        source = self._backup_record()
        found = self.folder.state("export")
        if found.done:
            assert found.record is not None
            return ExportResult(
                path=self.export_v10, version="1.0", runs=source.runs, consumptions=found.record["consumptions"],
                losses=0, size_bytes=self.export_v10.stat().st_size,
            )
        for step in ("export", "transform"):
            self.folder.refuse_changed(step)
        made, self._exported_alongside = self._exported_alongside, None
        if made is None:
            self._checked_backup()
            made = self._write_documents(source.path)
        result, self._transform_report = made
        self.folder.record("export", sha256=self.folder.sha256(self.export_v10), consumptions=result.consumptions)
        self.folder.record("transform", sha256=self.folder.sha256(self.export_v11))
        return result

    def _write_documents(self, copy: Path) -> tuple[ExportResult, TransformReport]:
        """The v1.0 export of ``copy`` (the backup) and its v1.1 transform, written in one pass.

        A document the journal does not vouch for is the output of a step stopped before it was
        recorded (files are written atomically): it is made again, with the transform derived from it.
        """
        self._discard_documents()
        return export_and_transform(
            copy, self.export_v10, self.export_v11, infer_losses=self.infer_losses, progress=self.progress,
            inspected=self._inspected, halves=True,  # the backup: nothing changes it
        )

    def _discard_documents(self) -> None:
        """Remove both documents (when the journal does not vouch for them)."""
        for path in (self.export_v10, self.export_v11):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _backup_and_export(self, *, stage: bool) -> BackupResult:
        """The backup step of a run, with the export's documents (and, when ``stage``, the staging
        database) written from a new copy while its integrity check runs: the export and the reset
        then record them. A backup kept from an earlier run is checked, and nothing is written alongside.

        When the check refuses the copy, the documents and the staging database are removed with it:
        nothing is left.
        """
        def write_alongside(copy: Path) -> None:
            with ThreadPoolExecutor(max_workers=1) as pool:  # SQLite copies without the GIL
                staged = pool.submit(self._write_staging, copy) if stage else None
                self._exported_alongside = self._write_documents(copy)
                self._staged_alongside = staged.result() if staged is not None else None

        if self.folder.state("export").done:  # an earlier run's documents stand: the backup alone
            return self._backup_step(self._inspected)
        for step in ("export", "transform"):
            self.folder.refuse_changed(step)
        try:
            return self._backup_step(self._inspected, alongside=write_alongside)
        except BaseException:
            self._exported_alongside = self._staged_alongside = None
            self._discard_documents()
            if stage:
                remove_sidecar_files(self.staging, with_file=True)
            raise

    @_locked
    def transform(self) -> TransformReport:
        """Step 3: the v1.0 document → v1.1 (every run complete with 0 losses, or inferred losses).

        The export step writes the v1.1 document in the same pass; this step then returns its
        report. A v1.0 document alone (an interrupted run) is transformed from the file.
        """
        self._run_missing("transform")
        found = self.folder.state("transform")
        if found.done:
            if self._transform_report is None:  # a re-run in a new process: describe the recorded output
                self._transform_report = file_report(self.export_v10, infer_losses=self.infer_losses)
            return self._transform_report
        self.folder.refuse_changed("transform")
        if found.status == "unrecorded":  # complete (written atomically), but stopped before it was recorded
            self.export_v11.unlink()
        self._transform_report = transform(self.export_v10, self.export_v11, infer_losses=self.infer_losses)
        self.folder.record("transform", sha256=self.folder.sha256(self.export_v11))
        return self._transform_report

    @_locked
    def reset(self) -> ResetResult:
        """Step 4: a fresh staging database (v0.7 production tables, empty). Starts the staging over."""
        source = self._checked_backup()
        made, self._staged_alongside = self._staged_alongside, None
        result = dataclasses.replace(made, source=source.path) if made is not None else self._write_staging(source.path)
        self.folder.record("reset", staging_sha256=self.folder.sha256(self.staging))
        return result

    def _write_staging(self, copy: Path) -> ResetResult:
        """A new staging database from ``copy`` (the backup); the import and verification records go."""
        self.folder.forget("import", "verify")
        # An import killed mid-transaction leaves a hot -journal: it must not pair with the new file.
        remove_sidecar_files(self.staging, with_file=True)
        return reset(copy, self.staging, inspected=self._inspected)

    @_locked
    def import_(self) -> ImportReport:
        """Step 5: the v1.1 document into the staging database, all or nothing."""
        self._run_missing("import")
        done = self.folder.recorded("import")
        if done is not None:
            return ImportReport(path=self.export_v11, staging=self.staging, version="1.1",
                                runs=done["runs"], consumptions=done["consumptions"], losses=done["losses"])
        if self.folder.recorded("reset", alone=True) is None:  # verified by hand, but never imported here
            self.echo("import needs reset first: running it")
            self.reset()
        # bakemigrate's own output, proven unchanged since it was written: the schema check is not needed.
        trusted = self.folder.recorded("transform") is not None
        document_sha256 = self.folder.sha256(self.export_v11)  # what the import is judged from later
        report = import_(self.export_v11, self.staging, progress=self.progress, trusted=trusted)
        self.folder.record("import", staging_sha256=self.folder.sha256(self.staging), runs=report.runs,
                           consumptions=report.consumptions, losses=report.losses,
                           read={EXPORT_V11: document_sha256})
        return report

    @_locked
    def verify(self) -> VerifyResult:
        """Step 6: compare the staging database with the backup and the v1.0 document."""
        self._run_missing("verify")
        source = self._checked_backup()
        trusted = self.folder.recorded("export") is not None
        # The staging file is only read from here on: it is hashed while it is verified (in a thread:
        # hashlib reads without the GIL), and again after only if it changed since (`WorkFolder.sha256`).
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(self.folder.sha256, self.staging)
            result = verify(source.path, self.staging, self.export_v10,
                            expected=self.export_v11 if self.infer_losses else None, trusted=trusted,
                            infer_losses=self.infer_losses)
        self.folder.record("verify", **verdict(result, staging_sha256=self.folder.sha256(self.staging),
                                               source_sha256=source.sha256))
        return result

    def _verdict(self) -> dict[str, Any]:
        """The journal's verdict on the staging database as it is now, for this database's backup (a
        staging database made step by step and never verified is verified now).

        Raises:
            MigrationError: there is nothing to verify, or the staging database (or the database it
                was verified against) is not the one the recorded verdict was given on.
        """
        verified = self.journal.get("verify")
        if verified is None or not self.staging.exists():
            return self._verify_files()
        if self.folder.recorded("verify") is None:
            raise MigrationError(f"{self.staging}: changed after it was verified; run the migration again")
        source = self._backup_record()
        if verified.get("source_sha256", source.sha256) not in (source.sha256, source.original_sha256):
            raise MigrationError(f"{self.staging}: was verified against another database than the backup in "
                                 f"{self.workdir}; verify it against {source.path}")
        return verified

    def _verify_files(self) -> dict[str, Any]:
        """Verify the staging database of the work folder made step by step, where no verdict is recorded.

        Raises:
            MigrationError: the work folder holds no staging database and export to verify.
        """
        if not self.staging.exists() or not self.export_v10.exists():
            raise MigrationError(
                f"{self.workdir}: no verified staging database; run `bakemigrate migrate` (or the steps) first"
            )
        source = self._checked_backup()
        expected = self.export_v11 if self.export_v11.exists() else None
        result = verify(source.path, self.staging, self.export_v10, expected=expected)
        facts = verdict(result, staging_sha256=self.folder.sha256(self.staging), source_sha256=source.sha256)
        self.folder.record("verify", **facts)
        return facts

    @_locked
    def switch(self, confirm: bool) -> SwitchResult:
        """Step 7: replace the database with the verified staging copy (only when ``confirm``).

        The verdict is the one the journal records (by `migrate`, the notebook or `bakemigrate verify`)
        for the staging database as it is now: it is not verified again. A staging database changed
        since its verdict is refused.
        """
        if self.folder.recorded("switch") is not None:
            return SwitchResult(db=self.db, switched=True, sha256=self.journal.get("switch")["sha256"])
        verified = self.journal.get("verify")
        if (
            verified is not None and verified["verdict"] == "PASS" and not self.staging.exists()
            and self.db.exists() and self.folder.sha256(self.db) == verified["staging_sha256"]
        ):  # renamed into place, then stopped before the journal recorded it
            self.folder.record("switch", sha256=verified["staging_sha256"], marks=table_marks(self.db))
            return SwitchResult(db=self.db, switched=True, sha256=verified["staging_sha256"])
        verified = self._verdict()
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
        self.folder.record("switch", sha256=result.sha256, marks=marks)
        return result

    def rollback_plan(self) -> RollbackPlan:
        """What a rollback would do, before it does it: nothing, or restore the backup and discard `changes`.

        Raises:
            MigrationError: the database was never switched by this work folder (nothing to roll back;
                the database is kept as it is, with everything the app wrote to it).
        """
        refuse_work_folder_holding(self.db, self.workdir)
        source = self._backup_record()
        current = self.folder.sha256(self.db) if self.db.exists() else None
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
        self.folder.record("rollback", sha256=result.sha256, kept=str(kept) if kept else None)
        self.folder.forget("switch")
        return result

    # -- all at once ---------------------------------------------------------------------------
    def _plan(self) -> dict[str, Planned]:
        """What a run does, by step (see `plan_lines`)."""
        return resolve(self.folder, again=RUN_AGAIN)

    def plan_lines(self) -> list[str]:
        """What a run would do, one line a step: kept from an earlier run (the journal records it, its
        file is the one recorded, and so are the steps it needs) or to run, and why. The run does
        what these lines say. Reads the journal and the files; writes nothing."""
        return [planned.line() for planned in self._plan().values()]

    def run(
        self,
        *,
        yes: bool = False,
        dry_run: bool = False,
        echo: Callable[[str], Any] = print,
        on_step: Callable[[str, Any, dict[str, Any] | None], Any] | None = None,
        ask: Ask | None = None,
        on_result: Callable[[MigrationResult], Any] | None = None,
    ) -> MigrationResult:
        """Every step in order: 0 migrated (or already v0.7), 1 verification failed or declined, 2 refused.

        `dry_run` prints the plan and touches nothing. Without `yes` the switch needs a yes from
        `ask(question)` (the command line asks at the terminal); with neither, the verified copy waits.
        Each step's result goes to `on_step(step, result, earlier)`, where `earlier` is
        the journal's record when the step was done by an earlier run and kept (None when it ran now);
        without `on_step`, each result's summary line goes to `echo`. A run that made its steps hands
        its result to `on_result` while it still holds the locks (the command line keeps its report
        there, so a run started after it never finds a half-written one).
        """
        report = on_step or (lambda step, result, earlier: echo(
            result.summary_table() + "\n" + result.summary_line() if step == "verify" else result.summary_line()))
        with hold_database(self.db, self.workdir):  # before the first look, so two runs never meet
            return self._run(yes=yes, dry_run=dry_run, echo=echo, report=report, ask=ask, on_result=on_result)

    def _already_migrated(self) -> MigrationResult:
        """The outcome of a run on a database at v0.7 (switched by this work folder, or not)."""
        if self.journal.get("verify") is not None and self.switch(confirm=False).switched:
            return MigrationResult(0, f"{self.db} is already migrated to bake-tracker v0.7: nothing to do",
                                   outcome="already-migrated")
        return MigrationResult(0, f"{self.db} is already at bake-tracker v0.7: nothing to do",
                               outcome="already-migrated")

    def _run(self, *, yes: bool, dry_run: bool, echo: Callable[[str], Any],
             report: Callable[[str, Any, dict[str, Any] | None], Any], ask: Ask | None,
             on_result: Callable[[MigrationResult], Any] | None = None) -> MigrationResult:
        """`run`, the database's lock held."""
        try:
            pre = self.preflight()
        except DatabaseRefused:
            # a v0.7 file is not the preflight's to judge: there is nothing to do
            with contextlib.suppress(DatabaseRefused):
                if self.db.exists() and inspect_database(self.db, integrity=False).schema_version == "0.7":
                    return self._already_migrated()
            raise
        if pre.already_migrated:
            return self._already_migrated()
        if dry_run:
            echo(pre.table_text())
            echo("plan:\n" + "\n".join(f"  {line}" for line in self.plan_lines()))
            return MigrationResult(0, "dry run: nothing was changed", outcome="dry-run")
        with hold(self.workdir, self.db):
            self._inspected = pre.info  # the database as the backup copies it: looked at once, this run
            try:
                result = self._run_steps(pre, yes, report, ask)
                if on_result is not None:
                    on_result(result)
                return result
            finally:
                self._inspected = None

    def _run_steps(self, pre: Preflight, yes: bool, report: Callable[[str, Any, dict[str, Any] | None], Any],
                   ask: Ask | None) -> MigrationResult:
        """The steps of the plan after the preflight, the locks held: each runs, or is kept when done."""
        steps: list[str] = []
        kept_before = dict(self.journal.data["steps"])  # the records of earlier runs, by identity
        plan = self._plan()

        def done(step: str, result: Any) -> Any:
            record = self.journal.get(step)
            earlier = record if record is not None and kept_before.get(step) is record else None
            steps.append(f"{step} ({'done earlier' if earlier else 'ran'})")
            report(step, result, earlier)
            return result

        report("preflight", pre, None)
        done("backup", self._backup_and_export(stage=not plan["reset"].done))
        # A new backup has the documents and the staging copy written alongside its check; from a
        # backup kept earlier, the staging copy (it needs only the backup) is built in a second thread
        # during the export (SQLite copies without the GIL), unless the plan keeps it.
        with ThreadPoolExecutor(max_workers=1) as pool:
            staged = None if plan["reset"].done else pool.submit(self.reset)
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
            confirm_or_refuse(yes, ask, f"Verified. Replace {self.db} with the migrated database?", db=self.db,
                              waiting=f"not switched; the verified copy waits in {self.staging}")
        except Declined as exc:
            return MigrationResult(1, str(exc), result, steps, outcome="declined")
        done("switch", self.switch(confirm=True))
        return MigrationResult(
            0, f"PASS: {self.db} migrated to bake-tracker v0.7 and verified; backup in {self._backup_record().path}",
            result, steps, outcome="migrated",
        )


RUN_AGAIN = ("verify",)
"""The steps a run makes again even when the journal records them: the verification's tables are shown."""


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
    ask: Ask | None = None,
    on_result: Callable[[MigrationResult], Any] | None = None,
) -> MigrationResult:
    """Run the whole migration of `db` with `workdir` as its work folder.

    See [Migration.run][bakemigrate.Migration.run] for the outcome and the exit codes.
    """
    return Migration(db, workdir, infer_losses=infer_losses, progress=progress).run(
        yes=yes, dry_run=dry_run, echo=echo, on_step=on_step, ask=ask, on_result=on_result
    )
