"""The migration's fast paths give exactly what the strict, general paths give.

- the export writes the v1.1 document in the same pass: the bytes ``transform`` writes;
- bakemigrate's own documents are read with ``own_runs`` (orjson): the runs ``RunStream`` reads;
- the import of a trusted document (no schema check, timestamps reshaped) fills the same rows;
- the verification decides most NUMERIC pairs inside SQLite: as Python's formatting decides them;
- the preflight's ``quick_check`` leaves the full ``integrity_check`` to the backup, which refuses;
- the backup's check split into parts run side by side finds what the whole ``integrity_check`` finds;
- a run writes the documents and the staging copy while the new backup is checked: what the steps
  write one after the other, and nothing left when the check refuses.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import bakemigrate.jsonstream as jsonstream
from bakemigrate.db import integrity_check_side_by_side
from bakemigrate.errors import DatabaseRefused, InvalidDocument
from bakemigrate.exporter import export, export_and_transform
from bakemigrate.formats import RunsWriter, encode_document
from bakemigrate.importer import import_
from bakemigrate.jsonstream import RunStream, own_head, own_runs
from bakemigrate.pipeline import Migration
from bakemigrate.reset import reset
from bakemigrate.transform import transform
from bakemigrate.verify import compare_tables


@pytest.mark.parametrize("infer_losses", [False, True])
def test_export_writes_the_transform_the_file_transform_writes(demo_db: Path, tmp_path: Path, infer_losses) -> None:
    v10, v11, check = tmp_path / "v1.0.json", tmp_path / "v1.1.json", tmp_path / "check.json"
    result, report = export_and_transform(demo_db, v10, v11, infer_losses=infer_losses, progress=False)
    from_file = transform(v10, check, infer_losses=infer_losses)
    assert result.runs == report.runs_total == from_file.runs_total == 200
    assert [g.uuid for g in report.shortfalls] == [g.uuid for g in from_file.shortfalls]
    assert len(report.shortfalls) > 0 and len(report.over_yield) == len(from_file.over_yield)
    if not infer_losses:
        assert v11.read_bytes() == check.read_bytes()
        return
    # inferred losses get fresh uuids: everything else is the same
    fused, plain = json.loads(v11.read_bytes()), json.loads(check.read_bytes())
    for doc in (fused, plain):
        for run in doc["production_runs"]:
            for loss in run["losses"]:
                loss.pop("uuid")
    assert fused == plain
    assert sum(len(r["losses"]) for r in fused["production_runs"]) == len(report.shortfalls)


def test_export_alone_is_unchanged_by_the_fused_pass(demo_db: Path, tmp_path: Path) -> None:
    export(demo_db, tmp_path / "alone.json", progress=False)
    export_and_transform(demo_db, tmp_path / "fused.json", tmp_path / "v1.1.json", progress=False)
    alone, fused = (json.loads((tmp_path / n).read_bytes()) for n in ("alone.json", "fused.json"))
    alone.pop("exported_at"), fused.pop("exported_at")
    assert alone == fused


@given(
    runs=st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(), st.lists(st.text(), max_size=3)),
            max_size=4,
        ),
        max_size=4,
    ),
    header=st.dictionaries(st.sampled_from(["version", "exported_at", "note"]), st.text(), max_size=3),
)
@settings(max_examples=150, deadline=None)
def test_runs_writer_writes_the_bytes_of_the_whole_document(runs, header) -> None:
    import io

    out = io.BytesIO()
    writer = RunsWriter(out, header)
    for run in runs:
        writer.write(run)
    writer.close()
    assert out.getvalue() == encode_document({**header, "production_runs": runs})


@pytest.mark.parametrize("block", [64, 1000, 1 << 22])
def test_own_runs_reads_what_the_strict_reader_reads(demo_db: Path, tmp_path: Path, monkeypatch, block) -> None:
    v10, v11 = tmp_path / "v1.0.json", tmp_path / "v1.1.json"
    export_and_transform(demo_db, v10, v11, progress=False)
    monkeypatch.setattr(jsonstream, "BLOCK", block)
    for path in (v10, v11):
        fast, strict = list(own_runs(path)), list(RunStream(path).runs())
        assert len(fast) == 200 and fast == strict
        assert [list(run) for run in fast] == [list(run) for run in strict]  # key order too


def test_own_head_reads_the_keys_the_strict_reader_reads_before_the_runs(demo_db: Path, tmp_path: Path) -> None:
    v10, v11 = tmp_path / "v1.0.json", tmp_path / "v1.1.json"
    export_and_transform(demo_db, v10, v11, progress=False)
    for path, version in ((v10, "1.0"), (v11, "1.1")):
        with RunStream(path) as stream:
            assert own_head(path) == stream.head
        assert own_head(path)["version"] == version


def _repeating(demo_db: Path, tmp_path: Path) -> tuple[list[dict], dict[str, Path]]:
    """bakemigrate's export with two runs repeated exactly, and with one repeated with other content."""
    doc = tmp_path / "v1.1.json"
    export_and_transform(demo_db, tmp_path / "v1.0.json", doc, progress=False)
    data = json.loads(doc.read_bytes())
    runs = data["production_runs"]
    changed = {**runs[3], "notes": "another note"}  # the same uuid, other content: a conflict
    made = {}
    for extra, outcome in (([runs[0], runs[1]], "repeats"), ([changed], "conflict")):
        made[outcome] = tmp_path / f"{outcome}.json"
        made[outcome].write_bytes(encode_document({**data, "production_runs": runs + extra}))
    return runs, made


def _imported(document: Path, staging: Path, trusted: bool) -> object:
    try:
        report = import_(document, staging, progress=False, trusted=trusted)
    except InvalidDocument as exc:
        return str(exc).replace(str(document), "DOC")
    return report.runs, sorted(report.skipped), report.warnings


def test_a_trusted_document_repeating_a_run_into_a_staging_with_rows_is_imported_as_the_strict_import_does(
    demo_db: Path, tmp_path: Path
) -> None:
    """Into a staging database that holds runs already, the trusted import claims every uuid as the
    strict one does, telling equal runs by the bytes bakemigrate wrote them as (the strict one by content)."""
    runs, documents = _repeating(demo_db, tmp_path)
    first = tmp_path / "first.json"
    first.write_bytes(encode_document({"version": "1.1", "exported_at": "x", "production_runs": runs[150:]}))
    for outcome, document in documents.items():
        results = []
        for trusted in (False, True):
            staging = tmp_path / f"staging-{outcome}-{trusted}.db"
            reset(demo_db, staging)
            assert import_(first, staging, progress=False).runs == 50
            results.append(_imported(document, staging, trusted))
        assert results[0] == results[1]
        if outcome == "repeats":
            assert results[1][0] == 150 and len(results[1][1]) == 52
        else:
            assert "have the same uuid" in results[1] and "production_runs[3]" in results[1]


def test_a_trusted_document_repeating_a_run_into_an_empty_staging_is_refused_by_its_unique_index(
    demo_db: Path, tmp_path: Path
) -> None:
    """Into an empty staging database the trusted import keeps no claims (bakemigrate writes each run of
    a database once): a repeat, which only a file changed since would hold, is refused by the tables'
    own unique index, and nothing is imported."""
    _, documents = _repeating(demo_db, tmp_path)
    for outcome, document in documents.items():
        staging = tmp_path / f"staging-{outcome}.db"
        reset(demo_db, staging)
        refused = _imported(document, staging, trusted=True)
        # the repeated run's id, the table's key, is met first
        assert refused == ("DOC: breaks a database rule, nothing was imported "
                           "(UNIQUE constraint failed: production_runs.id)"), refused
        assert table_rows(staging, "production_runs") == []


def test_own_runs_of_an_empty_export(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(encode_document({"version": "1.0", "exported_at": "x", "production_runs": []}))
    assert list(own_runs(path)) == []


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"version": "1.0", "production_runs": [{"uuid": "a"}]}),  # compact: not bakemigrate's layout
        encode_document({"version": "1.0", "production_runs": [{"uuid": "a"}, {"uuid": "b"}]}).decode()[:-20],
        encode_document({"version": "1.0", "production_runs": [{"uuid": "a"}]}).decode().replace('"a"', "'a'"),
    ],
    ids=["compact", "truncated", "not JSON"],
)
def test_own_runs_refuses_a_file_in_another_layout(tmp_path: Path, text: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(text)
    with pytest.raises(InvalidDocument, match="not a document written by bakemigrate"):
        list(own_runs(path))


def test_trusted_import_fills_the_same_rows_as_the_strict_import(demo_db: Path, tmp_path: Path) -> None:
    v10, v11 = tmp_path / "v1.0.json", tmp_path / "v1.1.json"
    export_and_transform(demo_db, v10, v11, progress=False)
    staged = {}
    for trusted in (False, True):
        staging = tmp_path / f"staging-{trusted}.db"
        reset(demo_db, staging)
        report = import_(v11, staging, progress=False, trusted=trusted)
        assert (report.runs, report.losses) == (200, 0)
        staged[trusted] = {t: table_rows(staging, t) for t in ("production_runs", "production_consumptions")}
    assert staged[True] == staged[False]
    assert len(staged[True]["production_consumptions"]) > 200


def test_trusted_verify_gives_the_strict_verify_s_result(demo_db: Path, tmp_path: Path, monkeypatch) -> None:
    """The trusted verification (own export of the backup: not checked against its schema, nor its
    runs against the database's again) reaches the strict one's every figure; the strict one alone
    spills the document's uuids to a temporary file."""
    import bakemigrate.verify as verify_module
    from bakemigrate.verify import verify

    work = tmp_path / "work"
    migration = Migration(demo_db, work, progress=False)
    migration.backup()
    migration.import_()
    spills = []
    real = verify_module.SpilledRows

    def counted(*columns: str):
        spills.append(columns)
        return real(*columns)

    monkeypatch.setattr(verify_module, "SpilledRows", counted)
    results = {}
    for trusted in (False, True):
        spills.clear()
        result = verify(work / "backup" / "bake_tracker.db", work / "staging.db", work / "export_v1.0.json",
                        trusted=trusted)
        results[trusted] = {name: list(result.rows(name)) for name in ("checks", "summary", "fields", "mismatches")}
        assert result.passed and len(spills) == (0 if trusted else 1)
    assert results[True] == results[False]
    assert any(row["table"] == "document: runs" for row in results[True]["fields"])


@pytest.mark.parametrize("change", [
    "UPDATE production_consumptions SET unit = 'cup' WHERE id = (SELECT min(id) FROM production_consumptions)",
    "UPDATE production_runs SET notes = 'edited' WHERE id = (SELECT max(id) FROM production_runs)",
    "DELETE FROM production_runs WHERE id = (SELECT min(id) FROM production_runs "
    "WHERE id NOT IN (SELECT production_run_id FROM production_consumptions))",
])
def test_trusted_verify_finds_what_the_strict_one_finds_in_a_changed_copy(
    demo_db: Path, tmp_path: Path, change: str
) -> None:
    """The trusted verification reads its own export's runs as bytes: a staging run that exports
    otherwise is compared field by field, with the strict verification's figures."""
    from bakemigrate.verify import verify

    work = tmp_path / "work"
    migration = Migration(demo_db, work, progress=False)
    migration.backup()
    migration.import_()
    conn = sqlite3.connect(work / "staging.db")
    assert conn.execute(change).rowcount == 1
    conn.commit()
    conn.close()
    results = {}
    for trusted in (False, True):
        result = verify(work / "backup" / "bake_tracker.db", work / "staging.db", work / "export_v1.0.json",
                        trusted=trusted)
        results[trusted] = {name: list(result.rows(name)) for name in ("checks", "fields", "mismatches")}
        failed = [row["check"] for row in result.rows("checks") if not row["passed"]]
        assert "export document" in failed
    assert results[True] == results[False]


def table_rows(db: Path, table: str) -> list[tuple]:
    """Every row of ``table`` exactly as stored, in id order."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY id').fetchall()
    finally:
        conn.close()


def _pairs_db(tmp_path: Path, pairs: list[tuple[object, object]]) -> sqlite3.Connection:
    for name, side in (("before.db", 0), ("after.db", 1)):
        conn = sqlite3.connect(tmp_path / name)
        conn.execute("DROP TABLE IF EXISTS t")
        conn.execute("CREATE TABLE t (uuid TEXT PRIMARY KEY, x NUMERIC(10, 4))")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(str(i), pair[side]) for i, pair in enumerate(pairs)])
        conn.commit()
        conn.close()
    conn = sqlite3.connect(tmp_path / "after.db")
    conn.execute("ATTACH DATABASE ? AS original", (str(tmp_path / "before.db"),))
    return conn


_stored = st.one_of(
    st.floats(min_value=-2e6, max_value=2e6, allow_nan=False),
    st.integers(-10**7, 10**7).map(lambda n: n / 10**4),
    st.integers(-10**7, 10**7).map(lambda n: n / 10**4 + 0.00005),  # at the rounding tie
    st.integers(-10**9, 10**9),
)


@given(st.lists(st.tuples(_stored, st.floats(-1e-4, 1e-4) | st.sampled_from([0.0, 0.00005, -0.00005])), max_size=60))
@settings(max_examples=60, deadline=None)
def test_numbers_decided_in_sqlite_as_python_decides(tmp_path_factory, cases) -> None:
    pairs = []
    for before, nudge in cases:
        after = float(f"{before:.4f}")  # what the import stores, give or take a nudge
        pairs.append((before, after + nudge))
    conn = _pairs_db(tmp_path_factory.mktemp("pairs"), pairs)
    fields, mismatches = compare_tables(conn, "t", {"x": 4})
    expected = sum(Decimal(f"{b:.4f}") != Decimal(f"{a:.4f}") for b, a in pairs)  # equal values at the scale
    assert int(fields.loc[0, "different"]) == expected
    assert len(mismatches) == expected


def test_quick_preflight_leaves_a_damaged_index_to_the_backup(demo_db: Path, tmp_path: Path, cli) -> None:
    conn = sqlite3.connect(demo_db)
    name = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'production_consumptions' "
        "AND sql IS NOT NULL"
    ).fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")  # the index now claims another column than it holds
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql.split("(")[0] + "(uuid)", name))
    conn.commit()
    conn.close()
    check = sqlite3.connect(demo_db)
    assert check.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    assert check.execute("PRAGMA integrity_check").fetchone()[0] != "ok"
    check.close()
    before = demo_db.read_bytes()
    done = cli("migrate", demo_db, "--workdir", tmp_path / "work", "--yes", "--quiet")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:") and "the database is corrupt" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert demo_db.read_bytes() == before
    assert not list((tmp_path / "work").glob("backup/*.db"))
    # the documents and the staging copy written while the copy was checked went with it
    left = [p.name for p in (tmp_path / "work").rglob("*") if p.suffix in (".json", ".db")]
    assert left in ([], ["journal.json"]), left
    with pytest.raises(DatabaseRefused, match="the database is corrupt"):
        Migration(demo_db, tmp_path / "again", progress=False).backup()
    assert integrity_check_side_by_side(demo_db) == check_whole(demo_db)


def _page_never_used(db: Path) -> None:
    """One empty page added at the end of ``db``, counted in its header: no table uses it, so
    ``quick_check`` finds it, while every table reads as before."""
    data = bytearray(db.read_bytes())
    page_size = int.from_bytes(data[16:18], "big") or 65536
    pages = int.from_bytes(data[28:32], "big")
    assert data[24:28] == data[92:96]  # the header's page count is the one SQLite believes
    data[28:32] = (pages + 1).to_bytes(4, "big")
    db.write_bytes(bytes(data) + bytes(page_size))


@pytest.mark.parametrize("also", ["nothing else", "a broken reference", "an odd timestamp"])
def test_a_database_the_quick_check_refuses_is_refused_as_corrupt_first(
    demo_db: Path, tmp_path: Path, cli, also: str
) -> None:
    """The preflight's quick check runs beside its reads of every production value: a file it finds
    damaged is refused as corrupt, before what those reads would refuse it for."""
    conn = sqlite3.connect(demo_db)
    if also == "a broken reference":
        conn.execute("UPDATE production_consumptions SET production_run_id = 999999 "
                     "WHERE id = (SELECT min(id) FROM production_consumptions)")
    elif also == "an odd timestamp":
        conn.execute("UPDATE production_runs SET produced_at = 'soon' WHERE id = (SELECT min(id) FROM production_runs)")
    conn.commit()
    conn.close()
    _page_never_used(demo_db)
    with contextlib.closing(sqlite3.connect(demo_db)) as check:
        assert "never used" in check.execute("PRAGMA quick_check").fetchone()[0]
        assert check.execute("SELECT count(*) FROM production_runs").fetchone()[0] > 0
    before = demo_db.read_bytes()
    done = cli("migrate", demo_db, "--workdir", tmp_path / "work", "--yes", "--quiet")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:") and "the database is corrupt" in done.stderr, done.stderr
    assert "never used" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert demo_db.read_bytes() == before
    assert not (tmp_path / "work").exists()


def check_whole(db: Path) -> str:
    """The first line of SQLite's whole ``PRAGMA integrity_check``."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def _damage(db: Path, how: str) -> None:
    """Damage ``db`` in one of the ways the full check finds and the quick one may not."""
    conn = sqlite3.connect(db)
    if how == "index":  # an index that claims another column than it holds
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'idx_prod_consumption_run'").fetchone()[0]
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'idx_prod_consumption_run'",
                     (sql.split("(")[0] + "(uuid)",))
    elif how == "unique":  # a unique index over values that are not unique
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = replace(sql, 'INDEX', 'UNIQUE INDEX') "
                     "WHERE name = 'idx_production_run_recipe'")
    elif how == "page":  # a page no table uses (its b-tree root forgotten)
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("DELETE FROM sqlite_master WHERE name = 'idx_production_run_event'")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("how", ["none", "index", "unique", "page"])
def test_the_check_side_by_side_finds_what_the_whole_check_finds(demo_db: Path, how: str) -> None:
    _damage(demo_db, how)
    whole = check_whole(demo_db)
    assert (whole == "ok") == (how == "none")
    assert (integrity_check_side_by_side(demo_db) == "ok") == (whole == "ok")
    assert (integrity_check_side_by_side(demo_db, workers=1) == "ok") == (whole == "ok")


def test_documents_and_staging_written_alongside_the_check_are_those_the_steps_write(
    demo_db: Path, tmp_path: Path
) -> None:
    apart = tmp_path / "apart" / "bake_tracker.db"
    apart.parent.mkdir()
    apart.write_bytes(demo_db.read_bytes())
    together = Migration(demo_db, tmp_path / "together", progress=False)
    result = together.run(echo=lambda line: None, ask=lambda question: False)
    assert result.outcome == "declined"  # verified; the copy waits
    recorded = list(together.journal.data["steps"])
    assert recorded[:2] == ["start", "backup"]  # vouched for before what was written from it
    assert set(recorded[2:5]) == {"export", "transform", "reset"}
    steps = Migration(apart, tmp_path / "work", progress=False)
    steps.backup()
    steps.export()
    steps.reset()
    steps.import_()
    for made, stepped in ((together.export_v10, steps.export_v10), (together.export_v11, steps.export_v11)):
        one, other = json.loads(made.read_bytes()), json.loads(stepped.read_bytes())
        one.pop("exported_at"), other.pop("exported_at")
        assert one == other
    for table in ("production_runs", "production_consumptions", "production_losses", "events"):
        assert table_rows(together.staging, table) == table_rows(steps.staging, table)
    assert together.journal.get("verify")["verdict"] == "PASS"
    assert together.reset().source == together._backup_record().path  # the backup, not the copy being checked


def test_pipeline_writes_both_documents_in_one_pass(demo_db: Path, tmp_path: Path) -> None:
    migration = Migration(demo_db, tmp_path / "work", progress=False)
    migration.backup()
    migration.export()
    assert migration.journal.get("transform") is not None  # recorded by the export's pass
    report = migration.transform()
    assert report.runs_total == 200
    check = tmp_path / "check.json"
    transform(migration.export_v10, check)
    assert migration.export_v11.read_bytes() == check.read_bytes()


def test_rows_on_one_side_only_count_in_every_column(tmp_path: Path) -> None:
    conn = _pairs_db(tmp_path, [(1.0, 1.0), (2.0, 2.0), (3.0, 3.5)])
    conn.execute("DELETE FROM original.t WHERE uuid = '0'")  # only in main
    conn.execute("DELETE FROM main.t WHERE uuid = '1'")  # only in the original
    fields, mismatches = compare_tables(conn, "t", {"x": 4})
    assert fields.loc[0, ["compared", "different"]].tolist() == [3, 3]
    assert sorted(mismatches["key"]) == ["0", "1", "2"]
    conn.execute("DELETE FROM main.t WHERE uuid = '0'")  # now the original's rows only: the quick count
    fields, mismatches = compare_tables(conn, "t", {"x": 4})
    assert fields.loc[0, ["compared", "different"]].tolist() == [2, 2]
    assert sorted(mismatches["key"]) == ["1", "2"]


# values that meet often (equal, or alike but of another type, case or sign), and any others
_alike = st.sampled_from([None, 0, 0.0, -0.0, 1, 1.0, 2**53 + 1, float(2**53), 0.1 + 0.2, 0.3, "1", "1.0", "a", "A",
                          "a\x00b", "a\x00c", b"a", b"", ""])
_any_stored = st.one_of(
    _alike, _alike, _alike, st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=3),
    st.binary(max_size=3),
)


@pytest.mark.parametrize("declared", ["NUMERIC(10, 4)", "REAL", "BLOB", "TEXT COLLATE NOCASE"])
@given(pairs=st.lists(st.tuples(_any_stored, _any_stored), max_size=30))
@example(pairs=[("a", "A"), ("a\x00b", "a\x00c"), (-0.0, 0.0), (1, 1.0), ("1", 1), (b"a", "a"), (None, None)])
@settings(max_examples=40, deadline=None)
def test_exact_comparison_is_type_and_value(tmp_path_factory, declared: str, pairs) -> None:
    folder = tmp_path_factory.mktemp("exact")
    for name, side in (("before.db", 0), ("after.db", 1)):
        conn = sqlite3.connect(folder / name)
        conn.execute(f"CREATE TABLE t (uuid TEXT PRIMARY KEY, x {declared})")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(str(i), pair[side]) for i, pair in enumerate(pairs)])
        conn.commit()
        conn.close()
    conn = sqlite3.connect(folder / "after.db")
    conn.execute("ATTACH DATABASE ? AS original", (str(folder / "before.db"),))
    # what each side holds once stored (the column's affinity applied), read back: the same type and value
    stored = conn.execute("SELECT a.x, b.x FROM t AS a JOIN original.t AS b USING (uuid)").fetchall()
    expected = sum(not (type(a) is type(b) and a == b) for a, b in stored)
    fields, mismatches = compare_tables(conn, "t", {"x": 4}, exact=True)
    conn.close()
    assert int(fields.loc[0, "different"]) == expected
    assert len(mismatches) == expected


def _imported_pair(demo_db: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The backup (v0.6) and the staging database (v0.7) of a migration made up to its import."""
    migration = Migration(demo_db, tmp_path / "work", progress=False)
    for step in ("backup", "export", "transform", "reset", "import_"):
        getattr(migration, step)()
    return migration.folder.backup_file, migration.staging


_STAGING_CHANGES = {
    "none": [],
    "values changed": ["UPDATE production_consumptions SET unit = 'kg', total_cost = total_cost + 1 "
                       "WHERE id % 7 = 0"],
    "rowids swapped": ["UPDATE production_consumptions SET id = -id WHERE id IN (3, 4)",
                       "UPDATE production_consumptions SET id = 7 + id WHERE id IN (-3, -4)"],
    "a row missing, one more": ["DELETE FROM production_consumptions WHERE id = 5",
                                "INSERT INTO production_consumptions (production_run_id, ingredient_slug, "
                                "quantity_consumed, unit, total_cost, uuid, created_at, updated_at) "
                                "SELECT production_run_id, ingredient_slug, quantity_consumed, unit, total_cost, "
                                "'another-uuid', created_at, updated_at FROM production_consumptions WHERE id = 6"],
}


@pytest.mark.parametrize("change", list(_STAGING_CHANGES))
def test_rows_paired_by_rowid_are_compared_as_rows_paired_by_uuid(
    demo_db: Path, tmp_path: Path, monkeypatch, change: str
) -> None:
    import bakemigrate.verify as verify_module

    backup, staging = _imported_pair(demo_db, tmp_path)
    conn = sqlite3.connect(staging)
    for statement in _STAGING_CHANGES[change]:
        conn.execute(statement)
    conn.commit()
    conn.execute("ATTACH DATABASE ? AS original", (str(backup),))
    paired = verify_module._paired_by_rowid
    taken: list[bool] = []
    monkeypatch.setattr(verify_module, "_paired_by_rowid", lambda *a: taken.append(paired(*a) is not None)
                        or paired(*a))
    results = []
    for table in ("production_runs", "production_consumptions"):
        fast = compare_tables(conn, table, {}, exact=True)
        monkeypatch.setattr(verify_module, "_paired_by_rowid", lambda *a: None)
        by_uuid = compare_tables(conn, table, {}, exact=True)
        monkeypatch.setattr(verify_module, "_paired_by_rowid", lambda *a: taken.append(paired(*a) is not None)
                            or paired(*a))
        assert fast[0].equals(by_uuid[0]) and fast[1].equals(by_uuid[1])
        results.append(fast)
    conn.close()
    # the rowid pairing is taken only where it pairs the rows as their uuids do
    assert taken == [True, change in ("none", "values changed")]
    different = int(results[1][0]["different"].sum())
    assert (different == 0) == (change == "none")
