"""The ``bakemigrate`` command line: one subcommand per step, each calling one package function.

Every handler only parses, calls and prints. Errors become one ``error: ...`` line on stderr with
exit code 2 (refused input) or 1 (verification failed); never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .errors import Declined, MigrationError
from .locate import DEMO_WORK_FOLDER, WORK_FOLDER_NAME


def _cmd_transform(args: argparse.Namespace) -> int:
    from .transform import transform_file

    report = transform_file(args.input, args.output, infer_losses=args.infer_losses, force=args.force)
    print(report.summary_line())
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .formats import validate_file

    report = validate_file(args.file)
    print(report.summary_line())
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import create_demo_database

    summary = create_demo_database(args.db, runs=args.runs, seed=args.seed, force=args.force)
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
    from .importer import import_document

    report = import_document(args.document, args.staging, progress=not args.quiet)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.summary_line())
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    result = verify(args.db, args.staging, args.before, infer_losses=args.infer_losses)
    print(result.summary_table())
    print(result.summary_line())
    return 0 if result.passed else 1


def _cmd_switch(args: argparse.Namespace) -> int:
    from .pipeline import Migration, confirm_or_refuse

    confirm_or_refuse(args.yes, f"Replace {args.db} with the verified v0.7 database?", db=args.db,
                      waiting="not switched; run again with --yes when you are ready")
    result = Migration(args.db, args.workdir, infer_losses=None).switch(confirm=True)
    print(result.summary_line())
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from .pipeline import Migration, confirm_or_refuse

    migration = Migration(args.db, args.workdir, infer_losses=None)
    plan = migration.rollback_plan()
    if plan.needed:
        for line in plan.lines():
            print(line)
        confirm_or_refuse(args.yes, f"Put the pre-migration backup back in place of {args.db}?", db=args.db,
                          waiting="not rolled back; the backup stays in the work folder")
    result = migration.rollback(confirm=True)
    print(result.summary_line())
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from .pipeline import migrate

    result = migrate(
        args.db,
        args.workdir,
        yes=args.yes,
        dry_run=args.dry_run,
        infer_losses=args.infer_losses,
        progress=not args.quiet,
        echo=print,
    )
    print(result.summary_line())
    return result.exit_code


def _cmd_notebook(args: argparse.Namespace) -> int:
    from .notebook import run_notebook

    result = run_notebook(
        db=args.db, workdir=args.workdir, output=args.output, infer_losses=args.infer_losses
    )
    print(result.summary_line())
    return result.exit_code


def _cmd_locate(args: argparse.Namespace) -> int:
    import json

    from .locate import locate, not_found

    found = locate(args.app_dir)
    if args.json:
        print(json.dumps(found.as_dict(), ensure_ascii=False))
    elif not found.exists:
        raise not_found(found)
    else:
        print(found.summary_line())
    return 0 if found.exists and not found.problem else 2


EXIT_CODES = (
    "exit codes: 0 done (migrated, or already at v0.7, or nothing to do); 1 verification failed, or you "
    "answered no (your database is kept as it is); 2 refused (one error: line says why, nothing was changed)"
)


def _add_database(parser: argparse.ArgumentParser, *, workdir: bool = True) -> None:
    """The DB argument (optional: the database the app itself uses) and, with `workdir`, --workdir."""
    parser.add_argument("db", metavar="DB", type=Path, nargs="?", default=None,
                        help="the bake-tracker database (default: where the app keeps it; see `bakemigrate locate`)")
    if workdir:
        parser.add_argument("--workdir", metavar="DIR", type=Path, default=None,
                            help=f"the work folder for backup, exports and journal (default: {WORK_FOLDER_NAME} "
                                 "beside the database)")


def _resolve_database(args: argparse.Namespace) -> None:
    """Fill in an omitted DB (the app's own database, said in the first line) and --workdir."""
    from .locate import located_database, work_folder

    if getattr(args, "db", "absent") is None and args.command != "notebook":
        args.db = located_database()
        print(f"database: {args.db} (where bake-tracker keeps it)",
              file=sys.stderr if getattr(args, "json", False) else sys.stdout)
    if hasattr(args, "workdir"):
        args.workdir = work_folder(args.db, args.workdir)


def _add(
    sub: argparse._SubParsersAction,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    help_text: str,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text, epilog=EXIT_CODES)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (also used to render the CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="bakemigrate",
        description="Migrate a bake-tracker database from v0.6 to v0.7, safely and verifiably.",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"bakemigrate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = _add(sub, "transform", _cmd_transform, "Turn a production-history export v1.0 into v1.1.")
    p.add_argument("input", metavar="INPUT", type=Path)
    p.add_argument("output", metavar="OUTPUT", type=Path)
    p.add_argument("--infer-losses", action="store_true", help="record historical shortfalls as losses")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")

    p = _add(sub, "validate", _cmd_validate, "Check a document against its JSON Schema.")
    p.add_argument("file", metavar="FILE", type=Path)

    p = _add(sub, "demo", _cmd_demo, "Create a sample v0.6 bakery database.")
    p.add_argument("db", metavar="DB", type=Path)
    p.add_argument("--runs", type=int, default=200, help="production runs to create (default 200)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--force", action="store_true", help="replace DB if it exists")

    p = _add(sub, "backup", _cmd_backup, "Make a verified copy of the database in the work folder.")
    _add_database(p)

    p = _add(sub, "export", _cmd_export, "Export the production history (v1.0, with extension keys).")
    _add_database(p, workdir=False)
    p.add_argument("output", metavar="OUTPUT", type=Path)
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = _add(sub, "reset", _cmd_reset, "Build an empty-production v0.7 staging copy of the database.")
    p.add_argument("db", metavar="DB", type=Path)
    p.add_argument("staging", metavar="STAGING", type=Path)
    p.add_argument("--force", action="store_true", help="replace STAGING if it exists")

    p = _add(sub, "import", _cmd_import, "Import a v1.0 or v1.1 document into a staging database.")
    p.add_argument("document", metavar="DOCUMENT", type=Path)
    p.add_argument("staging", metavar="STAGING", type=Path)
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = _add(sub, "verify", _cmd_verify, "Compare the staging database with the original.")
    p.add_argument("db", metavar="DB", type=Path, help="the original v0.6 database")
    p.add_argument("staging", metavar="STAGING", type=Path)
    p.add_argument("--before", metavar="EXPORT", type=Path, required=True, help="the v1.0 export")
    p.add_argument("--infer-losses", action="store_true",
                   help="shortfalls were recorded as losses: check them against 0.7's rules")

    p = _add(sub, "switch", _cmd_switch, "Replace the database with the verified staging copy.")
    _add_database(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = _add(sub, "rollback", _cmd_rollback, "Put the pre-migration backup back in place.")
    _add_database(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = _add(sub, "migrate", _cmd_migrate, "Run every step in order, with a journal in the work folder.")
    _add_database(p)
    p.add_argument("--yes", action="store_true", help="switch without asking")
    p.add_argument("--dry-run", action="store_true", help="print the plan and touch nothing")
    p.add_argument("--infer-losses", action="store_true", help="record historical shortfalls as losses")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = _add(sub, "locate", _cmd_locate, "Show where bake-tracker keeps its database, and what is in it.")
    p.add_argument("--app-dir", metavar="DIR", type=Path, default=None,
                   help="the app's folder (holding run.py), for BAKING_TRACKER_ENV=development")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text")

    p = _add(sub, "notebook", _cmd_notebook, "Run the guided notebook headlessly and keep the record.")
    p.add_argument("--db", metavar="DB", type=Path, default=None, help="default: a fresh demo database")
    p.add_argument("--workdir", metavar="DIR", type=Path, default=None,
                   help=f"the work folder (default: {WORK_FOLDER_NAME} beside DB, or {DEMO_WORK_FOLDER} for a demo)")
    p.add_argument("--output", metavar="OUT.ipynb", type=Path, required=True)
    p.add_argument("--infer-losses", action="store_true", help="record historical shortfalls as losses")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bakemigrate`` and ``python -m bakemigrate``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _resolve_database(args)
        return int(args.handler(args))
    except Declined as exc:  # the person's choice, not an error: one line saying what was kept
        print(exc)
        return exc.exit_code
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; nothing was switched, re-run to resume", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
