"""`bakemigrate locate` finds the database where bake-tracker itself keeps it (a fake home folder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bakemigrate.cli import main
from bakemigrate.locate import DatabaseNotFound, app_database_path, located_database


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder with spaces and non-ASCII characters, as HOME and USERPROFILE."""
    folder = tmp_path / "Zoë Baker's home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("USERPROFILE", str(folder))
    monkeypatch.delenv("BAKING_TRACKER_ENV", raising=False)
    return folder


def test_production_mode_is_documents_baketracker(home: Path, demo_db: Path, capsys) -> None:
    target = home / "Documents" / "BakeTracker" / "bake_tracker.db"
    target.parent.mkdir(parents=True)
    shutil.copyfile(demo_db, target)
    assert main(["locate", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["path"] == str(target)
    assert found["mode"] == "production"
    assert (found["exists"], found["version"], found["production_runs"]) == (True, "0.6", 200)
    assert found["size_bytes"] == target.stat().st_size
    assert located_database() == target


def test_production_is_the_default_even_with_an_app_folder(home: Path, tmp_path: Path) -> None:
    path, mode = app_database_path(tmp_path / "app", environ={})
    assert (path, mode) == (home / "Documents" / "BakeTracker" / "bake_tracker.db", "production")
    path, mode = app_database_path(tmp_path / "app", environ={"BAKING_TRACKER_ENV": "production"})
    assert mode == "production"


def test_development_mode_is_the_app_folders_data(home: Path, demo_db: Path, tmp_path: Path, monkeypatch,
                                                  capsys) -> None:
    app = tmp_path / "bake tracker app"
    (app / "data").mkdir(parents=True)
    shutil.copyfile(demo_db, app / "data" / "bake_tracker.db")
    monkeypatch.setenv("BAKING_TRACKER_ENV", "development")
    assert main(["locate", "--app-dir", str(app)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(app / "data" / "bake_tracker.db"))
    assert "v0.6" in line and "200 production runs" in line and "development mode" in line


def test_development_mode_needs_the_app_folder(home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("BAKING_TRACKER_ENV", "development")
    assert main(["locate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--app-dir" in err


def test_missing_database_names_each_place_and_how_to_pass_a_path(home: Path, tmp_path: Path, capsys) -> None:
    assert main(["locate", "--app-dir", str(tmp_path / "app")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert str(home / "Documents" / "BakeTracker" / "bake_tracker.db") in lines[0]
    assert str(tmp_path / "app" / "data" / "bake_tracker.db") in lines[0]
    assert "pass its path as DB" in lines[0]
    with pytest.raises(DatabaseNotFound):
        located_database()
