"""Unit tests of `bakemigrate.jsonstream.RunStream`: a document's runs one at a time, the keys around them,
and refusals in `load_json`'s own words."""

from __future__ import annotations

from pathlib import Path

import pytest

import bakemigrate.jsonstream as jsonstream
from bakemigrate.errors import InvalidDocument
from bakemigrate.jsonio import load_json
from bakemigrate.jsonstream import RunStream

_DOCUMENT = (
    '\ufeff{"version": "1.0", "exported_at": "x", "production_runs": '
    '[{"uuid": "a", "n": 12345678901}, {"uuid": "b", "notes": "crème"}], "extra": [1]}'
)
_RUNS = [{"uuid": "a", "n": 12345678901}, {"uuid": "b", "notes": "crème"}]


@pytest.mark.parametrize("block", [1 << 22, 7], ids=["one block", "7-byte blocks"])
def test_run_stream_gives_the_keys_before_the_runs_then_the_runs_then_the_keys_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(jsonstream, "BLOCK", block)  # a run, a text and a number cut by the block
    path = tmp_path / "doc.json"
    path.write_text(_DOCUMENT, encoding="utf-8")
    stream = RunStream(path)
    assert (stream.streamable, stream.is_object) == (True, True)
    assert stream.head == {"version": "1.0", "exported_at": "x"}
    assert stream.tail == {}
    assert list(stream.runs()) == _RUNS
    assert stream.tail == {"extra": [1]}


@pytest.mark.parametrize(("text", "is_object", "whole"), [
    (b"[1, 2]", False, [1, 2]),  # not an object
    (b'{"version": "3.4", "recipes": []}', True, {"version": "3.4", "recipes": []}),  # an object without runs
])
def test_a_document_without_runs_is_read_whole(tmp_path: Path, text: bytes, is_object: bool, whole: object) -> None:
    path = tmp_path / "document.json"
    path.write_bytes(text)
    stream = RunStream(path)
    assert (stream.streamable, stream.is_object) == (False, is_object)
    assert list(stream.runs()) == []
    assert stream.whole() == whole


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        (b'{"production_runs": [{"uuid": 1, "uuid": 2}]}', "not valid JSON: duplicate key 'uuid'"),
        (b'{"a": 1, "a": 2, "production_runs": []}', "not valid JSON: duplicate key 'a'"),
        (b'{"production_runs": [1], "production_runs": [2]}', "not valid JSON: duplicate key 'production_runs'"),
        (b'{"production_runs": []} x', "not valid JSON at line 1, column 25: Extra data"),
        (b'{"production_runs": [{"q": NaN}]}', "not valid JSON: NaN is not valid JSON"),
    ],
    ids=["in a run", "before the runs", "runs twice", "after the document", "NaN in a run"],
)
def test_a_breach_is_refused_in_the_words_load_json_uses(tmp_path: Path, raw: bytes, fault: str) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(raw)
    with pytest.raises(InvalidDocument) as streamed:
        list(RunStream(path).runs())
    with pytest.raises(InvalidDocument) as whole:
        load_json(path)
    assert str(streamed.value) == str(whole.value) == f"{path}: {fault}"


def test_run_stream_refuses_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(InvalidDocument) as info:
        RunStream(path)
    assert str(info.value) == f"{path}: file not found"
