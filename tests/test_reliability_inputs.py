"""Guarantee 3 (inputs that are not documents): a named pipe, a device or a huge sparse file given to
``validate``, ``transform``, ``import`` or ``verify --before`` is refused at once with one line, in a
real process that neither blocks nor grows its memory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fixture_paths import FIXTURES, REPO
from reliability_helpers import one_line_error

from bakemigrate.cli import main
from bakemigrate.reset import reset

MAX_RSS_KB = 300 * 1024
"""The peak memory a refusal may take (a Python process with the package loaded is about 60 MB)."""

# Runs the command as its own child and prints that child's exit code and peak memory (kB, Linux).
_MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=60)
sys.stderr.write(done.stderr)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the fixture database and its empty v0.7 staging copy."""
    folder = tmp_path_factory.mktemp("inputs")
    db = folder / "bake_tracker.db"
    shutil.copyfile(FIXTURES / "bake_tracker.db", db)
    reset(db, folder / "staging.db")
    return db, folder / "staging.db"


def commands(source: Path, databases: tuple[Path, Path], out: Path) -> dict[str, list[str]]:
    db, staging = databases
    return {
        "validate": ["validate", str(source)],
        "transform": ["transform", str(source), str(out)],
        "import": ["import", str(source), str(staging), "--quiet"],
        "verify": ["verify", str(db), str(staging), "--before", str(source)],
    }


def run_measured(argv: list[str]) -> tuple[int, int, str]:
    """Run ``python -m bakemigrate ARGV`` in a real process: (exit code, peak RSS in kB, stderr).

    A process that blocks is killed by the timeout, which fails the test.
    """
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, sys.executable, "-m", "bakemigrate", *argv],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    code, rss = done.stdout.split()
    return int(code), int(rss), done.stderr


@pytest.mark.parametrize("step", ["validate", "transform", "import", "verify"])
def test_a_named_pipe_is_refused_without_blocking(step: str, databases, tmp_path: Path) -> None:
    fifo = tmp_path / "export.json"
    os.mkfifo(fifo)
    out = tmp_path / "out.json"
    code, _, err = run_measured(commands(fifo, databases, out)[step])  # no writer ever opens the pipe
    assert code == 2
    assert "is a named pipe (FIFO), not a regular file" in one_line_error(err)
    assert not out.exists()


@pytest.mark.parametrize("step", ["validate", "transform", "import", "verify"])
def test_dev_zero_is_refused_without_reading(step: str, databases, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    code, rss, err = run_measured(commands(Path("/dev/zero"), databases, out)[step])
    assert code == 2
    assert "/dev/zero: is a device, not a regular file" in one_line_error(err)
    assert rss < MAX_RSS_KB, f"peak memory {rss} kB"
    assert not out.exists()


@pytest.fixture(scope="module")
def sparse_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 GB file of NUL bytes that takes no disk (``truncate``)."""
    path = tmp_path_factory.mktemp("sparse") / "export_v1.0.json"
    subprocess.run(["truncate", "-s", "2G", str(path)], check=True)
    return path


@pytest.mark.parametrize("step", ["validate", "transform", "import", "verify"])
def test_a_2_gb_sparse_file_is_refused_at_its_first_byte(step: str, sparse_file: Path, databases, tmp_path) -> None:
    out = tmp_path / "out.json"
    code, rss, err = run_measured(commands(sparse_file, databases, out)[step])
    assert code == 2
    line = one_line_error(err)
    assert "line 1, column 1: a raw control character (byte 0x00 at offset 0)" in line
    assert rss < MAX_RSS_KB, f"peak memory {rss} kB"
    assert not out.exists()


@pytest.mark.parametrize("step", ["validate", "transform", "import", "verify"])
def test_nuls_after_a_valid_start_stop_the_reading(step: str, databases, tmp_path: Path) -> None:
    """A document cut off by a crash and padded with NUL bytes (what a file system leaves after a power
    cut): refused at the first NUL, without reading the 2 GB that follow."""
    source, out = tmp_path / "export.json", tmp_path / "out.json"
    source.write_bytes(b'{"version": "1.0", "production_runs": [{"uuid": "')
    os.truncate(source, 2 << 30)
    code, rss, err = run_measured(commands(source, databases, out)[step])
    assert code == 2
    assert "a raw control character (byte 0x00 at offset 49)" in one_line_error(err)
    assert rss < MAX_RSS_KB, f"peak memory {rss} kB"
    assert not out.exists()


def test_a_named_pipe_as_the_database_is_refused(databases, tmp_path: Path) -> None:
    fifo = tmp_path / "bake_tracker.db"
    os.mkfifo(fifo)
    code, _, err = run_measured(["migrate", str(fifo), "--workdir", str(tmp_path / "work"), "--dry-run"])
    assert code == 2
    assert "not a regular file" in one_line_error(err)


# -- verify --before: only the export of that very database ------------------------------------------

@pytest.fixture(scope="module")
def migrated_by_steps(tmp_path_factory: pytest.TempPathFactory, demo_template: Path) -> dict[str, Path]:
    """A demo database migrated step by step: the original, its v1.0 export and the v0.7 staging copy."""
    from bakemigrate.exporter import export
    from bakemigrate.importer import import_
    from bakemigrate.transform import transform

    folder = tmp_path_factory.mktemp("steps")
    db = folder / "bake_tracker.db"
    shutil.copyfile(demo_template, db)
    export(db, folder / "export_v1.0.json", progress=False)
    transform(folder / "export_v1.0.json", folder / "export_v1.1.json")
    reset(db, folder / "staging.db")
    import_(folder / "export_v1.1.json", folder / "staging.db", progress=False)
    return {"db": db, "v10": folder / "export_v1.0.json", "v11": folder / "export_v1.1.json",
            "staging": folder / "staging.db"}


def _edited_export(source: Path, change) -> str:
    doc = json.loads(source.read_text(encoding="utf-8"))
    change(doc)
    return json.dumps(doc)


BEFORE_DOCUMENTS = {
    "garbage": (lambda v10: "garbage{", "not valid JSON at line 1, column 1"),
    "a list": (lambda v10: "[]", "the document is a JSON list, not an object"),
    "an empty object": (lambda v10: "{}", "no production_runs"),
    "100,000-deep nesting": (lambda v10: "[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    "deep nesting inside a run": (
        lambda v10: v10.read_text(encoding="utf-8").replace('"notes": ', '"notes": ' + "[" * 100_000 + "]" * 100_000
                                                            + ', "x": ', 1),
        "JSON nested too deeply"),
    "another version": (lambda v10: v10.read_text(encoding="utf-8").replace('"version": "1.0"', '"version": "2.0"', 1),
                        'version "2.0" is not supported'),
    "no runs": (lambda v10: '{"version": "1.0", "production_runs": []}', "0 runs in the document, 200 in the database"),
    "a run too few": (lambda v10: _edited_export(v10, lambda d: d["production_runs"].pop()),
                      "199 runs in the document, 200 in the database"),
    "a run twice": (lambda v10: _edited_export(v10, lambda d: d["production_runs"].append(d["production_runs"][0])),
                    "1 runs appear twice"),
    "a run of another database": (
        lambda v10: _edited_export(v10, lambda d: d["production_runs"][5].update(
            uuid="00000000-0000-4000-8000-000000000000")),
        "1 of its runs are not in the database (first: 00000000-0000-4000-8000-000000000000)"),
    "a run against its schema": (
        lambda v10: _edited_export(v10, lambda d: d["production_runs"][3].update(expected_yield="48")),
        'production_runs[3].expected_yield: expected integer, got "48"'),
}


@pytest.mark.parametrize("case", list(BEFORE_DOCUMENTS))
def test_verify_refuses_a_before_document_that_is_not_the_export_of_that_database(
    case: str, migrated_by_steps: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = BEFORE_DOCUMENTS[case]
    before = tmp_path / "before.json"
    before.write_text(make(migrated_by_steps["v10"]), encoding="utf-8")
    code = main(["verify", str(migrated_by_steps["db"]), str(migrated_by_steps["staging"]), "--before", str(before)])
    out, err = capsys.readouterr()
    assert code == 2, out
    assert "PASS" not in out
    assert expected in one_line_error(err)


def test_verify_refuses_the_v11_document_as_before(migrated_by_steps: dict[str, Path], capsys) -> None:
    m = migrated_by_steps
    code = main(["verify", str(m["db"]), str(m["staging"]), "--before", str(m["v11"])])
    assert code == 2
    assert "a production-history export v1.1, not the export (1.0)" in one_line_error(capsys.readouterr().err)


def test_verify_passes_with_the_real_export(migrated_by_steps: dict[str, Path], capsys) -> None:
    m = migrated_by_steps
    assert main(["verify", str(m["db"]), str(m["staging"]), "--before", str(m["v10"])]) == 0
    assert "verify: PASS" in capsys.readouterr().out


@pytest.mark.parametrize("pair", ["the original twice", "the copy twice", "two originals", "two copies"])
def test_verify_refuses_databases_that_are_not_an_original_and_its_copy(
    pair: str, migrated_by_steps: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = migrated_by_steps
    other_original, other_copy = tmp_path / "other.db", tmp_path / "other_staging.db"
    shutil.copyfile(m["db"], other_original)
    shutil.copyfile(m["staging"], other_copy)
    db, staging, expected = {
        "the original twice": (m["db"], m["db"], "is the database"),
        "the copy twice": (m["staging"], m["staging"], "is the database"),
        "two originals": (m["db"], other_original, "is bake-tracker v0.6, not a migrated v0.7 copy"),
        "two copies": (other_copy, m["staging"], "is already bake-tracker v0.7, not the v0.6 original"),
    }[pair]
    code = main(["verify", str(db), str(staging), "--before", str(m["v10"])])
    assert code == 2
    assert expected in one_line_error(capsys.readouterr().err)


# -- huge documents that are not exports ---------------------------------------------------------------

HUGE = 70 << 20
"""Just over the 64 MB that is ever read whole only to word an error message."""

HUGE_DOCUMENTS = {
    "a 70 MB list": (b"[" * HUGE, "the document is not a JSON object (it starts with '[')"),
    "70 MB of nesting inside the runs": (b'{"version": "1.0", "production_runs": [' + b"[" * HUGE, "nested too deeply"),
    "a 70 MB text inside a run": (b'{"version": "1.0", "production_runs": [{"uuid": "' + b"a" * HUGE,
                                  "a value larger than 64 MB, which no export holds"),
    "{ and then 70 MB of garbage": (b"{" + b"x" * HUGE, "not valid JSON at character 1: Expecting value"),
    "70 MB of garbage after the first run": (b'{"version": "1.0", "production_runs": [{}, ' + b"x" * HUGE,
                                             "not valid JSON at character 43: Expecting value"),
}
GARBAGE_MAX_RSS_KB = 120 * 1024
"""Text that is wrong whatever follows is refused at its first block: no more memory than a small file needs."""


@pytest.fixture(scope="module")
def huge_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("huge")
    files = {}
    for i, (case, (content, _)) in enumerate(HUGE_DOCUMENTS.items()):
        files[case] = folder / f"huge{i}.json"
        files[case].write_bytes(content)
    return files


@pytest.mark.parametrize("step", ["validate", "transform", "import", "verify"])
@pytest.mark.parametrize("case", list(HUGE_DOCUMENTS))
def test_a_huge_document_that_is_no_export_is_refused_in_bounded_memory(
    case: str, step: str, huge_files: dict[str, Path], databases, tmp_path: Path
) -> None:
    out = tmp_path / "out.json"
    code, rss, err = run_measured(commands(huge_files[case], databases, out)[step])
    assert code == 2
    line = one_line_error(err)
    assert not out.exists()
    assert HUGE_DOCUMENTS[case][1] in line, line
    assert rss < (GARBAGE_MAX_RSS_KB if "garbage" in case else MAX_RSS_KB), f"peak memory {rss} kB"


def test_validate_refuses_a_huge_object_without_runs_unread(tmp_path: Path) -> None:
    """An object of more than 64 MB with no production_runs list can be no export: refused, not read whole."""
    source = tmp_path / "export.json"
    source.write_bytes(b'{"version": "1.0", "notes": "x"}' + b" " * HUGE)
    code, rss, err = run_measured(["validate", str(source)])
    assert code == 2
    assert "no production_runs list where an export has one, in a file larger than 64 MB" in one_line_error(err)
    assert rss < GARBAGE_MAX_RSS_KB, f"peak memory {rss} kB"
