"""Step 5, import: a production-history document (v1.0 or v1.1) into a v0.7 staging database.

All or nothing: every run is resolved and checked first, then everything is inserted in one
transaction. References resolve by uuid when the document carries them (bakemigrate's exports
do), else by name or slug as the app does; an ambiguous name is an error, never a guess.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select, text
from sqlalchemy import exc as sa_exc

from .db import inspect_database
from .errors import InvalidDocument, MigrationError
from .jsonio import load_json
from .progress import progress_bar
from .tables import production_consumptions_v07, production_losses_v07, production_runs_v07
from .values import parse_decimal, parse_timestamp

MAX_ERRORS_SHOWN = 5
APP_FILE_WARNING = (
    "this document has no event links or ids (it is the app's own export): runs are imported "
    "as standalone runs with new ids and timestamps"
)


@dataclass
class ImportReport:
    """What the import did: counts, skipped duplicates and warnings."""

    path: Path
    staging: Path
    version: str
    runs: int = 0
    consumptions: int = 0
    losses: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        """One line for the terminal."""
        return (
            f"imported {self.runs} production runs, {self.consumptions} consumptions, "
            f"{self.losses} losses into {self.staging}; skipped {len(self.skipped)} duplicates"
        )


class _Resolver:
    """Looks up recipe, finished unit and event ids in the staging database."""

    def __init__(self, conn) -> None:
        self.by_uuid: dict[str, dict[str, int]] = {}
        self.by_name: dict[str, dict[str, list[int]]] = {}
        for table, name_col in (("recipes", "name"), ("finished_units", "slug"), ("events", "name")):
            uuids: dict[str, int] = {}
            names: dict[str, list[int]] = defaultdict(list)
            for rid, uuid, name in conn.exec_driver_sql(f"SELECT id, uuid, {name_col} FROM {table}"):
                uuids[uuid] = rid
                names[name].append(rid)
            self.by_uuid[table], self.by_name[table] = uuids, names

    def resolve(self, table: str, uuid: Any, name: Any, what: str) -> int:
        if uuid is not None:
            found = self.by_uuid[table].get(uuid)
            if found is None:
                raise InvalidDocument(f"{what} with uuid {uuid} does not exist in the database")
            return found
        ids = self.by_name[table].get(name, [])
        if not ids:
            raise InvalidDocument(f"{what} {name!r} does not exist in the database")
        if len(ids) > 1:
            raise InvalidDocument(f"{what} {name!r} is ambiguous ({len(ids)} share that name)")
        return ids[0]


def _timestamps(item: dict[str, Any], now: datetime, where: str) -> tuple[datetime, datetime]:
    created = item.get("created_at")
    updated = item.get("updated_at")
    return (
        parse_timestamp(created, f"{where}.created_at") if created is not None else now,
        parse_timestamp(updated, f"{where}.updated_at") if updated is not None else now,
    )


def _prepare_document(path: Path) -> tuple[dict[str, Any], str]:
    from .formats import validate_document
    from .transform import transform_v1_0_to_v1_1

    doc = load_json(path)
    try:
        kind = validate_document(doc)
    except InvalidDocument as exc:
        raise InvalidDocument(f"{path}: {exc}") from None
    if not kind.is_history:
        raise InvalidDocument(f"{path}: a full backup cannot be imported; use a production-history export")
    return transform_v1_0_to_v1_1(doc), str(doc.get("version", "1.0"))


def import_document(
    document: str | os.PathLike[str],
    staging: str | os.PathLike[str],
    *,
    progress: bool = True,
) -> ImportReport:
    """Import ``document`` into the v0.7 database ``staging`` in one transaction.

    Ids and timestamps are kept when the document carries them; runs whose uuid is already in the
    database (or earlier in the document) are skipped and reported.

    Raises:
        InvalidDocument: the document is malformed, or some run cannot be resolved (nothing imported).
        MigrationError: ``staging`` is not a v0.7 bake-tracker database.
    """
    path, target = Path(document), Path(staging)
    info = inspect_database(target, integrity=False)
    if info.schema_version != "0.7":
        raise MigrationError(f"{target}: not a v0.7 database; run `bakemigrate reset` first")
    doc, version = _prepare_document(path)
    report = ImportReport(path=path, staging=target, version=version)
    runs_in = doc["production_runs"]
    if runs_in and not any("event_uuid" in r or "id" in r for r in runs_in):
        report.warnings.append(APP_FILE_WARNING)

    engine = create_engine(f"sqlite:///{target}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sa_exc.SAWarning)
            with engine.begin() as conn:
                _import_runs(conn, runs_in, report, now, progress)
    except sa_exc.IntegrityError as exc:
        raise InvalidDocument(
            f"{path}: breaks a database rule, nothing was imported ({exc.orig})"
        ) from None
    except (OverflowError, sa_exc.StatementError) as exc:
        raise InvalidDocument(f"{path}: a value cannot be stored, nothing was imported ({exc})") from None
    except sa_exc.OperationalError as exc:
        raise MigrationError(f"{target}: cannot write ({exc.orig})") from None
    finally:
        engine.dispose()
    return report


def _import_runs(conn, runs_in: list[dict[str, Any]], report: ImportReport, now: datetime, progress: bool) -> None:
    resolver = _Resolver(conn)
    seen_runs = set(conn.execute(select(production_runs_v07.c.uuid)).scalars())
    seen_children = set(conn.execute(select(production_consumptions_v07.c.uuid)).scalars())
    seen_children |= set(conn.execute(select(production_losses_v07.c.uuid)).scalars())
    used_ids = set(conn.execute(select(production_runs_v07.c.id)).scalars())
    used_ids |= {r["id"] for r in runs_in if isinstance(r.get("id"), int)}
    next_id = max(used_ids, default=0) + 1
    taken_ids = set(conn.execute(select(production_runs_v07.c.id)).scalars())
    runs: list[dict[str, Any]] = []
    consumptions: list[dict[str, Any]] = []
    losses: list[dict[str, Any]] = []
    errors: list[str] = []
    for index, item in enumerate(runs_in):
        where = f"production_runs[{index}]"
        if item["uuid"] in seen_runs:
            report.skipped.append(item["uuid"])
            continue
        seen_runs.add(item["uuid"])
        try:
            recipe_id = resolver.resolve("recipes", item.get("recipe_uuid"), item["recipe_name"], "recipe")
            unit_id = resolver.resolve(
                "finished_units", item.get("finished_unit_uuid"), item["finished_unit_slug"], "finished unit"
            )
            event_id = None
            if item.get("event_uuid") is not None:
                event_id = resolver.resolve("events", item["event_uuid"], item.get("event_name"), "event")
            run_id = item.get("id")
            if run_id is None or run_id in taken_ids:
                run_id, next_id = next_id, next_id + 1
            taken_ids.add(run_id)
            created, updated = _timestamps(item, now, where)
            runs.append(
                {
                    "id": run_id,
                    "uuid": item["uuid"],
                    "recipe_id": recipe_id,
                    "finished_unit_id": unit_id,
                    "event_id": event_id,
                    "num_batches": item["num_batches"],
                    "expected_yield": item["expected_yield"],
                    "actual_yield": item["actual_yield"],
                    "produced_at": parse_timestamp(item["produced_at"], f"{where}.produced_at"),
                    "notes": item["notes"],
                    "production_status": item["production_status"],
                    "loss_quantity": item["loss_quantity"],
                    "total_ingredient_cost": parse_decimal(item["total_ingredient_cost"], where),
                    "per_unit_cost": parse_decimal(item["per_unit_cost"], where),
                    "created_at": created,
                    "updated_at": updated,
                }
            )
            for j, c in enumerate(item["consumptions"]):
                cwhere = f"{where}.consumptions[{j}]"
                if c["uuid"] in seen_children:
                    raise InvalidDocument(f"{cwhere}: uuid {c['uuid']} appears twice")
                seen_children.add(c["uuid"])
                c_created, c_updated = _timestamps(c, now, cwhere)
                consumptions.append(
                    {
                        "id": c.get("id"),
                        "uuid": c["uuid"],
                        "production_run_id": run_id,
                        "ingredient_slug": c["ingredient_slug"],
                        "quantity_consumed": parse_decimal(c["quantity_consumed"], cwhere),
                        "unit": c["unit"],
                        "total_cost": parse_decimal(c["total_cost"], cwhere),
                        "created_at": c_created,
                        "updated_at": c_updated,
                    }
                )
            for j, loss in enumerate(item.get("losses", [])):
                lwhere = f"{where}.losses[{j}]"
                if loss["uuid"] in seen_children:
                    raise InvalidDocument(f"{lwhere}: uuid {loss['uuid']} appears twice")
                seen_children.add(loss["uuid"])
                l_created, l_updated = _timestamps(loss, now, lwhere)
                losses.append(
                    {
                        "id": loss.get("id"),
                        "uuid": loss["uuid"],
                        "production_run_id": run_id,
                        "finished_unit_id": unit_id,
                        "loss_category": loss["loss_category"],
                        "loss_quantity": loss["loss_quantity"],
                        "notes": loss.get("notes"),
                        "per_unit_cost": parse_decimal(loss["per_unit_cost"], lwhere),
                        "total_loss_cost": parse_decimal(loss["total_loss_cost"], lwhere),
                        "created_at": l_created,
                        "updated_at": l_updated,
                    }
                )
        except InvalidDocument as exc:
            errors.append(f"{where} ({item['uuid']}): {exc}")
    if errors:
        shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
        more = f" (and {len(errors) - MAX_ERRORS_SHOWN} more)" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise InvalidDocument(
            f"{report.path}: {len(errors)} runs cannot be imported, nothing was imported: {shown}{more}"
        )
    with progress_bar("import", len(runs) + len(consumptions) + len(losses), enabled=progress) as advance:
        for table, rows in (
            (production_runs_v07, runs),
            (production_consumptions_v07, consumptions),
            (production_losses_v07, losses),
        ):
            for start in range(0, len(rows), 20_000):
                chunk = rows[start : start + 20_000]
                conn.execute(table.insert(), chunk)
                advance(len(chunk))
    violations = conn.execute(text("PRAGMA foreign_key_check")).fetchall()
    if violations:
        raise InvalidDocument(f"{report.path}: {len(violations)} rows would break a reference")
    report.runs, report.consumptions, report.losses = len(runs), len(consumptions), len(losses)
