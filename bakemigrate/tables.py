"""The app's production tables at v0.6 and v0.7, as SQLAlchemy Core tables.

They reproduce what bake-tracker's own ``create_all`` makes: column order, types, NOT NULL, named
CHECK constraints, foreign keys with their ``ON DELETE`` and every index (the duplicate ones too).
Only the production tables are defined in full; the tables they reference appear as bare keys so
that foreign keys resolve.

The tables (``metadata_v06``, ``production_runs_v06``, ``production_consumptions_v06``,
``metadata_v07``, ``production_runs_v07``, ``production_consumptions_v07``,
``production_losses_v07``, ``V07_TABLES`` and ``NUMERIC_SCALE``) are made, and SQLAlchemy is
imported, the first time one of them is used, not when this module is imported. The statements
they compile to are shipped in ``sql/production_v0.6.sql`` and ``sql/production_v0.7.sql``
(`app_ddl`), so a migration creates and checks the tables without importing SQLAlchemy at all.
"""

from __future__ import annotations

import re
import sqlite3
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from .errors import DatabaseRefused

if TYPE_CHECKING:
    from sqlalchemy import Column, MetaData, Table

SchemaVersion = Literal["0.6", "0.7"]

PRODUCTION_TABLES_V06 = ("production_runs", "production_consumptions")
"""Tables that the migration rebuilds; every other table is copied untouched."""
PRODUCTION_TABLES_V07 = ("production_runs", "production_consumptions", "production_losses")

APP_MARKER_TABLES = ("recipes", "finished_units", "events", "ingredients", "production_runs")
"""Tables that identify a bake-tracker database (present at both versions)."""


def _referenced(metadata: MetaData) -> None:
    from sqlalchemy import Column, Integer, Table

    for name in ("recipes", "finished_units", "events"):
        Table(name, metadata, Column("id", Integer, primary_key=True))


def _audit_columns() -> list[Column]:
    from sqlalchemy import Column, DateTime, Integer, String

    return [
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("uuid", String(36), nullable=False),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
    ]


def _production_runs(metadata: MetaData, *, v07: bool) -> Table:
    from sqlalchemy import CheckConstraint, Column, DateTime, ForeignKey, Index, Integer, Numeric, String, Table, Text

    loss_columns = (
        [
            Column("production_status", String(20), nullable=False),
            Column("loss_quantity", Integer, nullable=False),
        ]
        if v07
        else []
    )
    table = Table(
        "production_runs",
        metadata,
        Column("recipe_id", Integer, ForeignKey("recipes.id", ondelete="RESTRICT"), nullable=False),
        Column(
            "finished_unit_id", Integer, ForeignKey("finished_units.id", ondelete="RESTRICT"), nullable=False
        ),
        Column("event_id", Integer, ForeignKey("events.id", ondelete="RESTRICT"), nullable=True),
        Column("num_batches", Integer, nullable=False),
        Column("expected_yield", Integer, nullable=False),
        Column("actual_yield", Integer, nullable=False),
        Column("produced_at", DateTime, nullable=False),
        Column("notes", Text),
        *loss_columns,
        Column("total_ingredient_cost", Numeric(10, 4), nullable=False),
        Column("per_unit_cost", Numeric(10, 4), nullable=False),
        *_audit_columns(),
        CheckConstraint("num_batches > 0", name="ck_production_run_batches_positive"),
        CheckConstraint("expected_yield >= 0", name="ck_production_run_expected_yield_non_negative"),
        CheckConstraint("actual_yield >= 0", name="ck_production_run_actual_yield_non_negative"),
        CheckConstraint("total_ingredient_cost >= 0", name="ck_production_run_total_cost_non_negative"),
        CheckConstraint("per_unit_cost >= 0", name="ck_production_run_per_unit_cost_non_negative"),
        *(
            [CheckConstraint("loss_quantity >= 0", name="ck_production_run_loss_non_negative")]
            if v07
            else []
        ),
    )
    Index("idx_production_run_recipe", table.c.recipe_id)
    Index("idx_production_run_finished_unit", table.c.finished_unit_id)
    Index("idx_production_run_produced_at", table.c.produced_at)
    Index("idx_production_run_event", table.c.event_id)
    Index("ix_production_runs_event_id", table.c.event_id)
    Index("ix_production_runs_uuid", table.c.uuid, unique=True)
    if v07:
        Index("idx_production_run_status", table.c.production_status)
    return table


def _production_consumptions(metadata: MetaData) -> Table:
    from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Numeric, String, Table

    table = Table(
        "production_consumptions",
        metadata,
        Column(
            "production_run_id",
            Integer,
            ForeignKey("production_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        Column("ingredient_slug", String(100), nullable=False),
        Column("quantity_consumed", Numeric(10, 3), nullable=False),
        Column("unit", String(50), nullable=False),
        Column("total_cost", Numeric(10, 4), nullable=False),
        *_audit_columns(),
        CheckConstraint("quantity_consumed > 0", name="ck_prod_consumption_quantity_positive"),
        CheckConstraint("total_cost >= 0", name="ck_prod_consumption_cost_non_negative"),
    )
    Index("idx_prod_consumption_run", table.c.production_run_id)
    Index("idx_prod_consumption_ingredient", table.c.ingredient_slug)
    Index("ix_production_consumptions_uuid", table.c.uuid, unique=True)
    return table


def _production_losses(metadata: MetaData) -> Table:
    from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Numeric, String, Table, Text

    table = Table(
        "production_losses",
        metadata,
        Column(
            "production_run_id",
            Integer,
            ForeignKey("production_runs.id", ondelete="SET NULL"),
            nullable=True,
        ),
        Column(
            "finished_unit_id", Integer, ForeignKey("finished_units.id", ondelete="RESTRICT"), nullable=False
        ),
        Column("loss_category", String(20), nullable=False),
        Column("loss_quantity", Integer, nullable=False),
        Column("notes", Text),
        Column("per_unit_cost", Numeric(10, 4), nullable=False),
        Column("total_loss_cost", Numeric(10, 4), nullable=False),
        *_audit_columns(),
        CheckConstraint("loss_quantity > 0", name="ck_production_loss_quantity_positive"),
        CheckConstraint("per_unit_cost >= 0", name="ck_production_loss_per_unit_cost_non_negative"),
        CheckConstraint("total_loss_cost >= 0", name="ck_production_loss_total_cost_non_negative"),
    )
    Index("idx_production_loss_category", table.c.loss_category)
    Index("idx_production_loss_created", table.c.created_at)
    Index("ix_production_losses_finished_unit_id", table.c.finished_unit_id)
    Index("ix_production_losses_production_run_id", table.c.production_run_id)
    Index("ix_production_losses_uuid", table.c.uuid, unique=True)
    return table


@cache
def _app_tables() -> dict[str, Any]:
    """The SQLAlchemy tables of both versions, by the module-level name they are known by."""
    from sqlalchemy import MetaData, Numeric

    made: dict[str, Any] = {"metadata_v06": MetaData(), "metadata_v07": MetaData()}
    _referenced(made["metadata_v06"])
    made["production_runs_v06"] = _production_runs(made["metadata_v06"], v07=False)
    made["production_consumptions_v06"] = _production_consumptions(made["metadata_v06"])
    _referenced(made["metadata_v07"])
    made["production_runs_v07"] = _production_runs(made["metadata_v07"], v07=True)
    made["production_consumptions_v07"] = _production_consumptions(made["metadata_v07"])
    made["production_losses_v07"] = _production_losses(made["metadata_v07"])
    # The v0.7 production tables in creation order (parents first).
    made["V07_TABLES"] = (made["production_runs_v07"], made["production_consumptions_v07"],
                          made["production_losses_v07"])
    # Columns of each table at v0.7 whose storage is NUMERIC, with their scale.
    made["NUMERIC_SCALE"] = {
        t.name: {c.name: c.type.scale for c in t.columns if isinstance(c.type, Numeric)} for t in made["V07_TABLES"]
    }
    return made


def __getattr__(name: str) -> Any:
    """The SQLAlchemy tables, made on first use (``from bakemigrate.tables import V07_TABLES`` works)."""
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        return _app_tables()[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def table_columns(conn: sqlite3.Connection, table: str, schema: str = "main") -> list[str]:
    """Column names of ``table`` in physical order (empty when the table does not exist)."""
    return [row[1] for row in conn.execute(f'PRAGMA "{schema}".table_info("{table}")')]


def user_tables(conn: sqlite3.Connection, schema: str = "main") -> list[str]:
    """Names of the ordinary tables of a database, sorted."""
    rows = conn.execute(
        f"SELECT name FROM \"{schema}\".sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    return [r[0] for r in rows]


def detect_schema_version(conn: sqlite3.Connection, label: str = "the database") -> SchemaVersion:
    """Tell a bake-tracker v0.6 database from a v0.7 one by its production tables.

    Raises:
        DatabaseRefused: not a bake-tracker database, or a production schema of neither version.
    """
    tables = set(user_tables(conn))
    missing = [t for t in APP_MARKER_TABLES if t not in tables]
    if missing:
        raise DatabaseRefused(
            f"{label}: not a bake-tracker database (no table {', '.join(missing)})"
        )
    runs = table_columns(conn, "production_runs")
    expected = {version: app_columns(version)["production_runs"] for version in ("0.6", "0.7")}
    if runs == expected["0.7"]:
        if "production_losses" not in tables:
            raise DatabaseRefused(f"{label}: looks like v0.7 but has no production_losses table")
        return "0.7"
    if runs == expected["0.6"]:
        if "production_losses" in tables:
            _refuse_unless_left_by_v07(conn, label)
        if table_columns(conn, "production_consumptions") != app_columns("0.6")["production_consumptions"]:
            raise DatabaseRefused(f"{label}: production_consumptions is not as bake-tracker v0.6 makes it")
        return "0.6"
    raise DatabaseRefused(f"{label}: production tables match neither bake-tracker v0.6 nor v0.7")


_STATEMENT_NAME = re.compile(r"CREATE (?:UNIQUE )?(?:TABLE|INDEX) (\w+)")


@cache
def app_ddl(version: SchemaVersion) -> dict[str, str]:
    """The ``CREATE`` statement of every production table and index at ``version``, by name, as
    ``create_all`` writes it (parents first, each table before its indexes).

    Read from ``sql/production_v{version}.sql``, which `compiled_app_ddl` writes from the tables of
    this module (a test proves the two agree): SQLAlchemy is not imported to know them.
    """
    from importlib.resources import files

    text = files("bakemigrate").joinpath("sql", f"production_v{version}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in body.split(";\n") if s.strip()]
    return {_STATEMENT_NAME.match(s).group(1): s for s in statements}  # type: ignore[union-attr]


def compiled_app_ddl(version: SchemaVersion) -> dict[str, str]:
    """`app_ddl` as SQLAlchemy compiles it from the tables of this module (what ``sql/production_v*.sql`` holds)."""
    from sqlalchemy import create_engine
    from sqlalchemy.schema import CreateIndex, CreateTable

    app = _app_tables()
    tables = app["V07_TABLES"] if version == "0.7" else (app["production_runs_v06"],
                                                        app["production_consumptions_v06"])
    engine = create_engine("sqlite://")
    ddl = {}
    for table in tables:
        ddl[table.name] = str(CreateTable(table).compile(engine)).strip()
        for index in sorted(table.indexes, key=lambda i: i.name):
            ddl[index.name] = str(CreateIndex(index).compile(engine)).strip()
    return ddl


def shipped_ddl_text(version: SchemaVersion) -> str:
    """The text of ``sql/production_v{version}.sql``: `compiled_app_ddl`, one statement after another."""
    head = (f"-- bake-tracker v{version}'s production tables and indexes, as its create_all writes them.\n"
            "-- Written by bakemigrate.tables.shipped_ddl_text from the SQLAlchemy tables of tables.py.\n\n")
    return head + "".join(f"{statement};\n\n" for statement in compiled_app_ddl(version).values())


@cache
def app_columns(version: SchemaVersion) -> dict[str, list[str]]:
    """The columns of each production table at ``version``, in their order (parents first)."""
    conn = sqlite3.connect(":memory:")
    try:
        for statement in app_ddl(version).values():
            conn.execute(statement)
        tables = PRODUCTION_TABLES_V07 if version == "0.7" else PRODUCTION_TABLES_V06
        return {t: [row[1] for row in conn.execute(f'PRAGMA table_info("{t}")')] for t in tables}
    finally:
        conn.close()


def v07_columns() -> dict[str, list[str]]:
    """The columns of each v0.7 production table, in their order (parents first)."""
    return app_columns("0.7")


def v07_ddl() -> dict[str, str]:
    """The ``CREATE`` statement of every v0.7 production table and index, by name (see `app_ddl`)."""
    return app_ddl("0.7")


def losses_table_left_by_v07(conn: sqlite3.Connection, schema: str = "main") -> bool:
    """True when a v0.6 file holds the empty ``production_losses`` bake-tracker 0.7 adds on opening it.

    bake-tracker 0.7's ``create_all`` adds only the missing table (and its indexes) to a v0.6 file: the
    table, its indexes and nothing else on it must be exactly what v0.7 creates, and it must hold no row.
    """
    objects = {
        name: (sql or "").strip()
        for name, sql in conn.execute(
            f'SELECT name, sql FROM "{schema}".sqlite_master WHERE tbl_name = ?', ("production_losses",)
        )
    }
    if not objects:
        return False
    ddl = v07_ddl()
    wanted = {"production_losses": ddl["production_losses"], **{n: ddl[n] for n in _losses_index_names()}}
    if objects != wanted:
        return False
    return conn.execute(f'SELECT count(*) FROM "{schema}".production_losses').fetchone()[0] == 0


def _losses_index_names() -> set[str]:
    return {name for name, sql in v07_ddl().items() if " INDEX " in sql and " ON production_losses " in sql}


def _refuse_unless_left_by_v07(conn: sqlite3.Connection, label: str) -> None:
    """Refuse a v0.6 file whose ``production_losses`` is not the empty one bake-tracker 0.7 leaves."""
    if losses_table_left_by_v07(conn):
        return
    if conn.execute("SELECT count(*) FROM production_losses").fetchone()[0]:
        raise DatabaseRefused(
            f"{label}: v0.6 production runs with a production_losses table that holds rows "
            "(bake-tracker 0.7 only ever adds it empty); production tables match neither bake-tracker v0.6 nor v0.7"
        )
    raise DatabaseRefused(
        f"{label}: v0.6 production runs with a production_losses table that is not the one bake-tracker 0.7 "
        "creates; production tables match neither bake-tracker v0.6 nor v0.7"
    )


def app_schema_statements(version: SchemaVersion) -> list[str]:
    """The app's full DDL at ``version`` (shipped from its reference schema), tables before indexes.

    Executing these statements in order on an empty file gives a database whose schema is the one
    bake-tracker's own ``init_database()`` creates.
    """
    from importlib.resources import files

    text = files("bakemigrate").joinpath("sql", f"schema_v{version}.sql").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [s.strip() for s in body.split(";\n") if s.strip()]
    statements = [s.rstrip(";") for s in statements]
    return sorted(statements, key=lambda s: 0 if s.startswith("CREATE TABLE") else 1)
