"""The ``bakemigrate`` command line: one subcommand per step, each calling one package function.

Every handler only parses, calls and prints. Errors become one ``error: ...`` line on stderr with
exit code 2 (refused input) or 1 (verification failed); never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import Declined, MigrationError
from .locate import DEMO_WORK_FOLDER, WORK_FOLDER_NAME
from .steps import PLAN
from .terminal import say

if TYPE_CHECKING:
    from .pipeline import Migration, MigrationResult


def _absolute(path: str | Path) -> str:
    """A path as scripts want it in `--json` output: absolute, whatever folder the command ran from."""
    return os.path.abspath(path)


def _cmd_transform(args: argparse.Namespace) -> int:
    from .transform import transform

    report = transform(args.input, args.output, infer_losses=args.infer_losses, force=args.force)
    print(report.summary_line())
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .formats import validate

    report = validate(args.file)
    if args.json:
        from .terminal import json_report

        print(json_report("validate", "valid", 0, report.summary_line(), file=_absolute(report.path),
                          kind=report.kind.value, runs=report.runs,
                          runs_with_loss_fields=report.runs_with_loss_fields))
    else:
        print(report.summary_line())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import demo

    summary = demo(args.db, runs=args.runs, seed=args.seed, force=args.force)
    print(summary.summary_line())
    return 0


def _cmd_backup(args: argparse.Namespace) -> int:
    from .backup import backup

    result = backup(args.db, args.workdir)
    print(result.summary_line())
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .exporter import export

    result = export(args.db, args.output, force=args.force, progress=not args.quiet)
    print(result.summary_line())
    return 0


def _cmd_reset(args: argparse.Namespace) -> int:
    from .reset import reset

    result = reset(args.db, args.staging, force=args.force)
    print(result.summary_line())
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from .importer import import_

    report = import_(args.document, args.staging, progress=not args.quiet)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.summary_line())
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .terminal import full_tables, json_report, verification_block, verification_dict
    from .verify import verify
    from .workfolder import keep_verdict

    result = verify(args.db, args.staging, args.before, infer_losses=args.infer_losses)
    keep_verdict(args.db, args.staging, result)  # `switch` trusts it while the files stay as they are
    code = 0 if result.passed else 1
    if args.json:
        print(json_report("verify", "passed" if result.passed else "failed", code, result.summary_line(),
                          database=_absolute(args.db), staging=_absolute(args.staging), before=_absolute(args.before),
                          verification=verification_dict(result)))
        return code
    print("\n".join(verification_block(result)))
    if args.verbose:
        print(full_tables(result))
    print(result.summary_line())
    return code


def ask_at_terminal(question: str) -> bool | None:
    """Ask `question` at the terminal: True for y/yes, False for anything else, None with no terminal."""
    if not sys.stdin or not sys.stdin.isatty():
        return None
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _cmd_switch(args: argparse.Namespace) -> int:
    from .pipeline import Migration, confirm_or_refuse

    confirm_or_refuse(args.yes, ask_at_terminal, f"Replace {args.db} with the verified v0.7 database?", db=args.db,
                      waiting="not switched; run again with --yes when you are ready")
    result = Migration.resume(args.db, args.workdir).switch(confirm=True)
    print(result.summary_line())
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    import contextlib

    from .lock import hold
    from .pipeline import Migration, confirm_or_refuse

    with hold(args.workdir, args.db) if Path(args.workdir).is_dir() else contextlib.nullcontext():
        return _rollback(args, Migration.resume(args.db, args.workdir), confirm_or_refuse)


def _rollback(args: argparse.Namespace, migration: Migration, confirm_or_refuse: Callable[..., None]) -> int:
    """`bakemigrate rollback`: the plan, the confirmation and the rollback, under one lock."""
    plan = migration.rollback_plan()
    if plan.needed:
        for line in plan.lines():
            say(line, sys.stderr if args.json else sys.stdout)
        confirm_or_refuse(args.yes, ask_at_terminal, f"Put the pre-migration backup back in place of {args.db}?",
                          db=args.db, waiting="not rolled back; the backup stays in the work folder")
    result = migration.rollback(confirm=True)
    if args.json:
        from .terminal import json_report

        print(json_report("rollback", "rolled-back" if result.restored else "nothing-to-do", 0, result.summary_line(),
                          database=_absolute(result.db), backup=_absolute(result.backup),
                          kept=_absolute(result.kept) if result.kept else None, discarded=result.changes.as_dict()))
    else:
        from .terminal import rollback_lines

        for line in rollback_lines(result, migration.workdir):
            say(line, sys.stdout)
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from .pipeline import migrate
    from .terminal import (
        final_line,
        full_tables,
        json_report,
        step_line,
        verification_block,
        verification_dict,
        write_reports,
    )

    steps: list[dict[str, object]] = []

    def on_step(step: str, result: object, earlier: dict | None) -> None:
        steps.append({"step": step, "status": "done earlier" if earlier else "ran",
                      "at": (earlier or {}).get("at"), "summary": getattr(result, "summary_line", str)()})
        if args.json:
            return
        print(step_line(step, result, earlier, args.workdir))
        if step == "verify":
            print("\n".join(verification_block(result)))
            if args.verbose:
                print(full_tables(result))

    def report_text(result: MigrationResult) -> str:
        verification = result.verification
        return json_report(
            "migrate", result.outcome, result.exit_code, result.message, database=_absolute(args.db),
            workdir=_absolute(args.workdir), steps=steps,
            verification=verification_dict(verification) if verification is not None else None,
        )

    kept: list[str] = []  # the report written under the locks, printed as it was written

    def keep_report(result: MigrationResult) -> None:
        """A migration that ran keeps its report (written under its locks); a re-run after it does not."""
        if result.verification is not None:
            kept.append(report_text(result))
            write_reports(Path(args.workdir), kept[0], result.verification)

    result = migrate(
        args.db,
        args.workdir,
        yes=args.yes,
        dry_run=args.dry_run,
        infer_losses=args.infer_losses,
        progress=not (args.quiet or args.json) and sys.stderr.isatty(),
        echo=(lambda text: print(text, file=sys.stderr)) if args.json else print,
        on_step=on_step,
        ask=ask_at_terminal,
        on_result=keep_report,
    )
    text = kept[0] if kept else report_text(result)
    if args.json:
        print(text)
    else:  # the PASS: line stays whole, the last line scripts read; the others wrap on a terminal
        for line in final_line(result, args.db, args.workdir):
            if line.startswith("PASS:"):
                print(line)
            else:
                say(line, sys.stdout)
    return result.exit_code


def _cmd_notebook(args: argparse.Namespace) -> int:
    from .notebook import run_notebook

    result = run_notebook(
        db=args.db, workdir=args.workdir, output=args.output, infer_losses=args.infer_losses
    )
    print(result.summary_line())
    return result.exit_code


def _cmd_locate(args: argparse.Namespace) -> int:
    from .locate import locate, not_found

    found = locate(args.app_dir)
    if args.json:
        from .terminal import json_report

        outcome = "found" if found.exists and not found.problem else "not-found" if not found.exists else "refused"
        code = 0 if outcome == "found" else 2
        print(json_report("locate", outcome, code, found.summary_line(), **found.as_dict()))
    elif not found.exists:
        raise not_found(found)
    else:
        print(found.summary_line())
    return 0 if found.exists and not found.problem else 2


EXIT_CODES = """\
exit codes: 0 done (migrated, or already at v0.7, or nothing to do)
            1 verification failed, or you answered no (your database is kept
              as it is)
            2 refused (one error: line says why, nothing was changed)"""


FLAGS: dict[str, str] = {
    "--yes": "do not ask for confirmation",
    "--force": "replace {target} if it exists",
    "--quiet": "no progress bar",
    "--infer-losses": "record past runs that made fewer items than expected as losses, as bake-tracker 0.7 would",
    "--verbose": "also show every table of the verification",
    "--json": "print one JSON object instead of the text",
}
"""The on/off options several commands take, each with the help it has wherever it is not worded for one
command (``{target}``: what ``--force`` replaces)."""


def _flag(parser: argparse.ArgumentParser, name: str, help_text: str | None = None, **fill: str) -> None:
    """The on/off option ``name`` of `FLAGS`, with its help (or ``help_text``, worded for this command)."""
    parser.add_argument(name, action="store_true", help=(help_text or FLAGS[name]).format(**fill))


def _database(parser: argparse.ArgumentParser, about: str | None = None) -> None:
    """The DB argument: the file ``about`` says, which must be given; without ``about``, optional (the
    database the app itself uses)."""
    if about is not None:
        parser.add_argument("db", metavar="DB", type=Path, help=about)
        return
    parser.add_argument("db", metavar="DB", type=Path, nargs="?", default=None,
                        help="the bake-tracker database (default: where the app keeps it; see `bakemigrate locate`)")


def _workdir(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    """The --workdir option (with its help, or ``help_text``, worded for this command)."""
    parser.add_argument("--workdir", metavar="DIR", type=Path, default=None, help=help_text or (
        f"the work folder for backup, exports and journal (default: {WORK_FOLDER_NAME} beside the database)"))


def _resolve_database(args: argparse.Namespace) -> None:
    """Fill in an omitted DB (the app's own database, said in the first line) and --workdir."""
    from .locate import located_database, work_folder

    if getattr(args, "db", "absent") is None and args.command != "notebook":
        args.db = located_database()
        from .terminal import shown

        print(f"database: {shown(args.db)} (where bake-tracker keeps it)",
              file=sys.stderr if getattr(args, "json", False) else sys.stdout)
    if hasattr(args, "workdir"):
        args.workdir = work_folder(args.db, args.workdir)


def _add(
    sub: argparse._SubParsersAction,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    help_text: str,
    example: str,
) -> argparse.ArgumentParser:
    """The command ``name``; the command of a step of the plan (see `bakemigrate.steps`) is described
    with that step's number first (`Step 5: ...`)."""
    planned = next((candidate for candidate in PLAN if candidate.command == name), None)
    if planned is not None:
        help_text = f"Step {planned.number}: {help_text}"
    parser = sub.add_parser(
        name, description=textwrap.fill(help_text, 78), formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"example:\n  {example}\n\n{EXIT_CODES}",
    )
    parser.set_defaults(handler=handler)
    return parser


def _migrate_line() -> str:
    """The help's line of `migrate`: the steps of the plan, in order (`backup, export, ... then switch`)."""
    names = [planned.name for planned in PLAN]
    text = f"move your database to v0.7: {', '.join(names[:-1])}, then {names[-1]} after you say yes"
    return textwrap.fill(text, width=80, initial_indent="  migrate      ", subsequent_indent=" " * 15)


COMMAND_GROUPS = f"""\
the whole migration (what a baker needs):
{_migrate_line()}
  rollback     put your pre-migration database back (keeps the current one)
  locate       show where bake-tracker keeps your database

the guided notebook:
  notebook     run the step-by-step notebook by itself and keep its record

step by step (what migrate does, one command each):
  backup       make a checked copy of the database in the work folder
  export       write the production history as the app's export file
  reset        make a copy of the database with empty v0.7 production tables
  import       load an export file into that copy
  verify       compare the copy with the original, value by value
  switch       put the verified copy in place of the database

tools:
  transform    turn an export file from format 1.0 into 1.1
  validate     check that a file is a valid export
  demo         make a sample v0.6 bakery database to practise on

`bakemigrate COMMAND --help` describes a command, with an example."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (also used to render the CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="bakemigrate",
        description="Move a bake-tracker database from v0.6 to v0.7 safely, and prove nothing was lost.\n\n"
        + COMMAND_GROUPS,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bakemigrate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, help="one of the commands above")

    p = _add(sub, "migrate", _cmd_migrate, "Move your database to v0.7: every step in order, with a journal in the "
             "work folder, so a re-run goes on where it stopped. It asks before it replaces your database.",
             "bakemigrate migrate --dry-run")
    _database(p)
    _workdir(p)
    _flag(p, "--yes", "replace the database without asking (after a PASS)")
    p.add_argument("--dry-run", action="store_true", help="check everything, show the plan, change nothing")
    _flag(p, "--infer-losses")
    _flag(p, "--quiet", "no progress bars")
    _flag(p, "--verbose")
    _flag(p, "--json")

    p = _add(sub, "rollback", _cmd_rollback, "Put the pre-migration backup back in place of the database. "
             "What you entered since the switch is listed first, and the current file is kept in the work "
             "folder.", "bakemigrate rollback")
    _database(p)
    _workdir(p)
    _flag(p, "--yes")
    _flag(p, "--json")

    p = _add(sub, "locate", _cmd_locate, "Show where bake-tracker keeps its database, and what is in it "
             "(version, size, production runs), by the app's own rules.", "bakemigrate locate")
    p.add_argument("--app-dir", metavar="DIR", type=Path, default=None,
                   help="the app's folder (holding run.py), for BAKING_TRACKER_ENV=development")
    _flag(p, "--json")

    p = _add(sub, "notebook", _cmd_notebook, "Run the guided notebook by itself (no browser) and keep the filled-in "
             "notebook, with an HTML copy, as the record of the migration.",
             "bakemigrate notebook --output record.ipynb")
    p.add_argument("--db", metavar="DB", type=Path, default=None,
                   help="the database to migrate (default: a fresh demo database, to practise)")
    _workdir(p, f"the work folder (default: {WORK_FOLDER_NAME} beside DB, or {DEMO_WORK_FOLDER} for a demo)")
    p.add_argument("--output", metavar="OUT.ipynb", type=Path, required=True,
                   help="where to write the record (an .ipynb file; the .html copy goes beside it)")
    _flag(p, "--infer-losses")

    p = _add(sub, "backup", _cmd_backup, "make a checked copy of the database in the work folder, with "
             "its SHA-256 fingerprint in a manifest.",
             "bakemigrate backup data/bake_tracker.db --workdir migration")
    _database(p)
    _workdir(p)

    p = _add(sub, "export", _cmd_export, "write the production history as the app's export file "
             "(format 1.0, every run, with the facts the app's format leaves out kept in extra fields).",
             "bakemigrate export data/bake_tracker.db migration/export_v1.0.json")
    _database(p)
    p.add_argument("output", metavar="OUTPUT", type=Path, help="the export file to write")
    _flag(p, "--force", target="OUTPUT")
    _flag(p, "--quiet")

    p = _add(sub, "reset", _cmd_reset, "make a copy of the database whose production tables are "
             "recreated, empty, as v0.7 makes them (the database itself is not changed).",
             "bakemigrate reset data/bake_tracker.db migration/staging.db")
    _database(p, "the v0.6 database (only read)")
    p.add_argument("staging", metavar="STAGING", type=Path, help="the copy to make")
    _flag(p, "--force", target="STAGING")

    p = _add(sub, "import", _cmd_import, "load an export file (1.0 or 1.1) into the staging copy, all "
             "or nothing.", "bakemigrate import migration/export_v1.1.json migration/staging.db")
    p.add_argument("document", metavar="DOCUMENT", type=Path, help="the export file to load")
    p.add_argument("staging", metavar="STAGING", type=Path, help="the staging copy made by reset")
    _flag(p, "--quiet")

    p = _add(sub, "verify", _cmd_verify, "compare the staging copy with the original database and its "
             "export, value by value.", "bakemigrate verify bake_tracker.db staging.db --before export_v1.0.json")
    _database(p, "the original v0.6 database")
    p.add_argument("staging", metavar="STAGING", type=Path, help="the migrated copy to check")
    p.add_argument("--before", metavar="EXPORT", type=Path, required=True,
                   help="the export (1.0) taken from the original")
    _flag(p, "--infer-losses", "shortfalls were recorded as losses: check them against 0.7's rules")
    _flag(p, "--verbose")
    _flag(p, "--json")

    p = _add(sub, "switch", _cmd_switch, "put the verified copy in place of the database, in one atomic "
             "step.", "bakemigrate switch data/bake_tracker.db --workdir migration --yes")
    _database(p)
    _workdir(p)
    _flag(p, "--yes")

    p = _add(sub, "transform", _cmd_transform, "turn a production-history export from format 1.0 into 1.1: "
             "every run becomes complete with 0 losses (or, with --infer-losses, what 0.7 would have "
             "recorded).", "bakemigrate transform export_v1.0.json export_v1.1.json")
    p.add_argument("input", metavar="INPUT", type=Path, help="the export file (1.0) to read")
    p.add_argument("output", metavar="OUTPUT", type=Path, help="the 1.1 file to write")
    _flag(p, "--infer-losses")
    _flag(p, "--force", target="OUTPUT")

    p = _add(sub, "validate", _cmd_validate, "Check that a file is a valid export (production history 1.0 or 1.1, "
             "or the app's Export All file) against its JSON Schema.", "bakemigrate validate export_v1.1.json")
    p.add_argument("file", metavar="FILE", type=Path, help="the file to check")
    _flag(p, "--json")

    p = _add(sub, "demo", _cmd_demo, "Make a sample v0.6 bakery database to practise on.",
             "bakemigrate demo practice/bake_tracker.db")
    _database(p, "the database file to create")
    p.add_argument("--runs", type=int, default=200, help="production runs to create (default 200)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    _flag(p, "--force", target="DB")
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl+C so that every temporary file is removed on the way out."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bakemigrate`` and ``python -m bakemigrate``; returns the exit code.

    SIGTERM is handled like Ctrl+C (SIGINT): the run stops, its temporary files are removed, and
    the exit code is 143 (130 for Ctrl+C).
    """
    import signal
    import threading

    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        _resolve_database(args)
        from .paths import refuse_name_that_is_not_text

        for value in vars(args).values():
            if isinstance(value, Path):
                refuse_name_that_is_not_text(value)
        return int(args.handler(args))
    except Declined as exc:  # the person's choice, not an error: one line saying what was kept
        if getattr(args, "json", False):
            from .terminal import json_report

            print(json_report(args.command, "declined", exc.exit_code, str(exc)))
        else:
            say(str(exc), sys.stdout)
        return exc.exit_code
    except MigrationError as exc:
        if getattr(args, "json", False):
            from .terminal import json_report

            print(json_report(args.command, "refused", exc.exit_code, str(exc)))
        say(f"error: {exc}", sys.stderr)
        return exc.exit_code
    except Terminated:
        print("error: stopped (SIGTERM); nothing was switched, re-run to resume", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("error: interrupted; nothing was switched, re-run to resume", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"error: {where}{exc.strerror or exc}", sys.stderr)
        return 2
    except Exception as exc:  # the last resort: a failure no check foresaw, said in one line, never a traceback
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"error: unexpected failure ({detail}); this is a defect in bakemigrate, please report it",
              file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
