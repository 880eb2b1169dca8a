"""Unit tests of `bakemigrate.jsonio`: strict reading (one line naming the file and the fault) and atomic writing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixture_paths import FIXTURES

from bakemigrate.errors import InvalidDocument, MigrationError
from bakemigrate.jsonio import atomic_writer, bad_byte, load_json, open_regular, write_json_atomic


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        (b'{"a": 1, "a": 2}', "not valid JSON: duplicate key 'a'"),
        (b'{"a": NaN}', "not valid JSON: NaN is not valid JSON"),
        (b'{"a": [1, 2', "not valid JSON at line 1, column 12: Expecting ',' delimiter (the file looks truncated)"),
        (b'{"a": 1 "b": 2}\n', "not valid JSON at line 1, column 9: Expecting ',' delimiter"),
        (b" \n ", "the file is empty"),
        (b'{"a": "\xe9"}', "not UTF-8 text (bad byte at offset 7)"),
        (b'{"a":\n "x\0"}', "not valid JSON at line 2, column 4: a raw control character (byte 0x00 at offset 9), "
                            "which JSON never holds"),
    ],
    ids=["duplicate key", "NaN", "truncated", "missing comma", "blank", "latin-1", "NUL"],
)
def test_load_json_refuses_what_strict_json_does_not_allow(tmp_path: Path, raw: bytes, fault: str) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(raw)
    with pytest.raises(InvalidDocument) as info:
        load_json(path)
    assert str(info.value) == f"{path}: {fault}"


def test_load_json_reads_utf8_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(b'\xef\xbb\xbf{"notes": ["cr\xc3\xa8me", 1.5, null]}')
    assert load_json(path) == {"notes": ["crème", 1.5, None]}


def test_load_json_names_a_database_given_for_a_document() -> None:
    db = FIXTURES / "bake_tracker.db"
    with pytest.raises(InvalidDocument) as info:
        load_json(db)
    assert str(info.value) == f"{db}: a SQLite database, not a JSON file; give the .json export"


def test_open_regular_refuses_a_folder_a_pipe_and_a_missing_file(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    for path, fault in ((tmp_path, "is a folder, not a file"), (pipe, "is a named pipe (FIFO), not a regular file"),
                        (tmp_path / "absent.json", "file not found")):
        with pytest.raises(InvalidDocument) as info:
            open_regular(path)
        assert str(info.value) == f"{path}: {fault}"


def test_bad_byte_finds_control_characters_in_a_first_block_and_only_nul_after() -> None:
    assert bad_byte(b'{"a":\t"b"}\r\n', first=True) == -1
    assert bad_byte(b"ab\x01c", first=True) == 2
    assert bad_byte(b"ab\x01c", first=False) == -1
    assert bad_byte(b"ab\x01\0", first=False) == 3


def test_atomic_writer_leaves_the_target_as_it_was_when_the_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="^stopped$"):
        with atomic_writer(target, force=True) as fh:
            fh.write("half")
            raise RuntimeError("stopped")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    with pytest.raises(MigrationError) as info:
        with atomic_writer(target):
            pytest.fail("an existing target was opened without force")
    assert str(info.value) == f"{target}: already exists (use --force to replace it)"


def test_write_json_atomic_writes_as_the_app_does_and_refuses_nan(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json_atomic(target, {"name": "Crème", "runs": [1]})
    assert target.read_bytes() == '{\n  "name": "Crème",\n  "runs": [\n    1\n  ]\n}\n'.encode()
    bad = tmp_path / "bad.json"
    with pytest.raises(MigrationError) as info:
        write_json_atomic(bad, {"x": float("nan")})
    # the end of the words is json's own, which may change between Python versions
    assert str(info.value).startswith(f"{bad}: cannot write JSON (Out of range float values are not JSON compliant")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
