"""`bakemigrate transform` and `bakemigrate validate` through the real command line."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]


def assert_refused(result: Any, names: Path, folder: Path, *, left: set[str]) -> str:
    """Exit 2, one ``error:`` line naming the file, no traceback, no new file in ``folder``."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and str(names) in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert {p.name for p in folder.iterdir()} == left  # no output, no temporary file
    return lines[0]


def history_text(fixture_export: Path) -> str:
    return fixture_export.read_text(encoding="utf-8")


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


BAD_HISTORY_EDITS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "json_array": lambda doc: doc["production_runs"],
    "version_2_0": lambda doc: {**doc, "version": "2.0"},
    "runs_not_a_list": lambda doc: {**doc, "production_runs": {"0": doc["production_runs"][0]}},
    "yield_as_text": lambda doc: {
        **doc, "production_runs": [{**doc["production_runs"][0], "expected_yield": "48"}]
    },
    "cost_as_number": lambda doc: {
        **doc, "production_runs": [{**doc["production_runs"][0], "per_unit_cost": 0.5}]
    },
    "batches_as_bool": lambda doc: {
        **doc, "production_runs": [{**doc["production_runs"][0], "num_batches": True}]
    },
    "huge_int": lambda doc: {
        **doc, "production_runs": [{**doc["production_runs"][0], "actual_yield": 10**40}]
    },
    "no_runs": lambda doc: {"version": "1.0", "exported_at": doc["exported_at"]},
}


@pytest.mark.parametrize("case", sorted(BAD_HISTORY_EDITS))
def test_bad_documents_are_refused(cli: Cli, tmp_path: Path, fixture_export: Path, case: str) -> None:
    doc = json.loads(history_text(fixture_export))
    source = tmp_path / f"{case}.json"
    source.write_text(json.dumps(BAD_HISTORY_EDITS[case](doc), indent=2), encoding="utf-8")
    fixture_export.unlink()
    result = cli("transform", source, tmp_path / "out.json")
    assert_refused(result, source, tmp_path, left={source.name})


@pytest.mark.parametrize(
    ("case", "data", "reason"),
    [
        ("malformed", b'{"version": "1.0", "production_runs": [}', "not valid JSON at line 1"),
        ("empty", b"", "empty"),
        ("blank", b"  \n\t\n", "empty"),
        ("not_utf8", b'{"version": "1.0", "production_runs": [], "x": "caf\xe9"}', "not UTF-8"),
        ("nan", b'{"version": "1.0", "production_runs": [], "x": NaN}', "NaN"),
        ("duplicate_key", b'{"version": "1.0", "version": "1.1", "production_runs": []}', "duplicate key"),
        ("deep", b'{"production_runs": [], "x": %s%s}' % (b"[" * 100_000, b"]" * 100_000), "nested too deeply"),
        (
            "lone_surrogate",
            b'{"production_runs": [], "notes": {"x": "a \\udc80 b"}}',
            "notes.x: a text holds an unpaired surrogate",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 and " " not in value else "",
)
def test_bad_files_are_refused(cli: Cli, tmp_path: Path, case: str, data: bytes, reason: str) -> None:
    """Each case is named by ``case`` alone (its data can be huge)."""
    source = write_bytes(tmp_path, f"{case}.json", data)
    line = assert_refused(cli("transform", source, tmp_path / "out.json"), source, tmp_path, left={source.name})
    assert reason in line


def test_truncated_file(cli: Cli, tmp_path: Path, fixture_export: Path) -> None:
    text = history_text(fixture_export)
    source = write_bytes(tmp_path, "cut.json", text[: len(text) // 2].encode())
    line = assert_refused(cli("transform", source, tmp_path / "out.json"), source, tmp_path,
                          left={source.name, fixture_export.name})
    assert line.startswith(f"error: {source}: not valid JSON at line ") and line.endswith(" (the file looks truncated)")


def test_input_missing(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    line = assert_refused(cli("transform", missing, tmp_path / "out.json"), missing, tmp_path, left=set())
    assert line == f"error: {missing}: file not found"


def test_output_folder_missing(cli: Cli, tmp_path: Path, fixture_export: Path) -> None:
    target = tmp_path / "no" / "such" / "out.json"
    line = assert_refused(cli("transform", fixture_export, target), target, tmp_path, left={fixture_export.name})
    assert "does not exist" in line


@pytest.mark.parametrize("spelling", ["same", "dotted", "relative", "symlink"])
def test_output_same_as_input(cli: Cli, tmp_path: Path, fixture_export: Path, spelling: str) -> None:
    before = fixture_export.read_bytes()
    left = {fixture_export.name}
    target: Path | str = fixture_export
    if spelling == "dotted":
        target = tmp_path / "sub" / ".." / fixture_export.name
        (tmp_path / "sub").mkdir()
        left.add("sub")
    elif spelling == "relative":
        target = os.path.relpath(fixture_export, Path(__file__).resolve().parents[1])  # the CLI runs in the repo
    elif spelling == "symlink":
        target = tmp_path / "link.json"
        target.symlink_to(fixture_export)
        left.add("link.json")
    for force in ([], ["--force"]):
        result = cli("transform", fixture_export, target, *force)
        line = assert_refused(result, Path(target), tmp_path, left=left)
        assert "same file as INPUT" in line
    assert fixture_export.read_bytes() == before


def test_output_exists_without_force(cli: Cli, tmp_path: Path, fixture_export: Path) -> None:
    target = write_bytes(tmp_path, "out.json", b"keep me")
    line = assert_refused(cli("transform", fixture_export, target), target, tmp_path,
                          left={fixture_export.name, "out.json"})
    assert "already exists" in line and "--force" in line
    assert target.read_bytes() == b"keep me"

    result = cli("transform", fixture_export, target, "--force")
    assert result.returncode == 0, result.stderr
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == "1.1"


def test_success_prints_one_summary_line(cli: Cli, tmp_path: Path, fixture_export: Path) -> None:
    target = tmp_path / "v1.1.json"
    result = cli("transform", fixture_export, target)
    assert result.returncode == 0 and result.stderr == ""
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{target}: production-history export v1.0, 60 production runs: 60 transformed")
    assert "16 made fewer items than expected" in line and "--infer-losses" in line

    again = cli("transform", target, tmp_path / "again.json")
    assert again.returncode == 0 and "0 transformed, 60 already v1.1" in again.stdout
    assert (tmp_path / "again.json").read_bytes() == target.read_bytes()


def test_infer_losses_flag(cli: Cli, tmp_path: Path, fixture_export: Path) -> None:
    target = tmp_path / "v1.1.json"
    result = cli("transform", fixture_export, target, "--infer-losses")
    assert result.returncode == 0, result.stderr
    assert "16 recorded as losses" in result.stdout
    runs = json.loads(target.read_text(encoding="utf-8"))["production_runs"]
    statuses = [r["production_status"] for r in runs]
    assert (statuses.count("partial_loss"), statuses.count("total_loss")) == (12, 4)


def test_huge_integer_in_an_extension_key_is_kept(cli: Cli, tmp_path: Path, fixture_export: Path) -> None:
    doc = json.loads(history_text(fixture_export))
    doc["production_runs"][0]["id"] = 10**30
    source = tmp_path / "big.json"
    source.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    result = cli("transform", source, tmp_path / "out.json")
    assert result.returncode == 0, result.stderr
    out = (tmp_path / "out.json").read_text(encoding="utf-8")
    assert f'"id": {10**30}' in out


def test_validate(cli: Cli, tmp_path: Path, fixture_export: Path, fixture_full_backup: Path) -> None:
    ok = cli("validate", fixture_full_backup)
    assert ok.returncode == 0 and ok.stdout.strip() == (
        f"{fixture_full_backup}: valid full backup, 60 production runs "
        "(0 with production_status, loss_quantity and losses)"
    )
    doc = json.loads(history_text(fixture_export))
    doc["production_runs"][12]["expected_yield"] = "48"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    result = cli("validate", bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f'error: {bad}: not a valid production-history export v1.0: '
        'production_runs[12].expected_yield: expected integer, got "48"'
    ]
