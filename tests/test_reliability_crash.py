"""Guarantee 1: a migration killed at any moment leaves the original or the verified migration.

Real ``migrate`` processes are killed with SIGKILL (no clean-up runs) at moments spread over the
measured duration of a full run, and at named points inside the narrow windows between writing a
file and recording it. After every kill the database is the untouched original or the complete
migrated database, nothing in between; the backup and the documents the journal vouches for keep
their checksums; a re-run finishes the migration exactly.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from crash_runner import CRASH_POINTS
from reliability_helpers import (
    Reference,
    artefact_problems,
    database_state,
    kill_migration_after,
    kill_migration_in,
    phase_reached,
    run_with_crash_point,
    timed_migration,
)

from bakemigrate.cli import main
from bakemigrate.db import content_digest, sha256_file
from bakemigrate.demo import demo


@dataclass
class Trial:
    """A v0.6 database to kill migrations of, and the measured run that migrated it."""

    source: Path
    ref: Reference
    duration: float
    windows: dict[str, tuple[float, float]]

    @property
    def startup(self) -> float:
        """Seconds before the first step starts (the package loads, the database is checked)."""
        return self.windows["backup"][0]


#: The line each step prints when it is done, in order (the import's window includes the reset).
STEP_LINES = (
    ("backup", "backup: "), ("export", "export: "), ("transform", "transform: "),
    ("import", "import: "), ("verify", "verify: "), ("switch", "switch: "),
)


def make_trial(folder: Path, runs: int) -> Trial:
    """A demo database of ``runs`` runs and one measured, uninterrupted migration of a copy."""
    source = folder / "source.db"
    demo(source, runs=runs, seed=7)
    measured = folder / "measured" / "bake_tracker.db"
    measured.parent.mkdir()
    shutil.copyfile(source, measured)
    duration, lines = timed_migration(measured, measured.parent / "work")
    windows, start = {}, lines[0][0]  # the preflight line
    for step, prefix in STEP_LINES:
        end = next(t for t, line in lines if line.startswith(prefix))
        windows[step], start = (start, end), end
    ref = Reference(sha256_file(source), content_digest(measured), runs)
    assert database_state(measured, ref) == "migrated"
    return Trial(source, ref, duration, windows)


def rerun_finishes(db: Path, workdir: Path, ref: Reference, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``migrate`` again: exit 0 and the database is exactly the migration. Returns its last line."""
    capsys.readouterr()
    code = main(["migrate", str(db), "--workdir", str(workdir), "--yes", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    assert database_state(db, ref) == "migrated"
    assert artefact_problems(db, workdir) == []
    return out.strip().splitlines()[-1]


def recover(trial: Trial, folder: Path, status: int, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """After a kill: check the invariants and re-run; return (phase killed in, state of the database)."""
    db, workdir = folder / "bake_tracker.db", folder / "work"
    phase = phase_reached(workdir) if status == -9 else "finished"
    state = database_state(db, trial.ref)
    assert artefact_problems(db, workdir) == [], f"killed in {phase}"
    assert sorted(p.name for p in folder.iterdir() if p.name != "work") == ["bake_tracker.db"]
    rerun_finishes(db, workdir, trial.ref, capsys)
    return phase, state


def fresh_copy(trial: Trial, folder: Path) -> tuple[Path, Path]:
    """A new folder holding a copy of the trial's database; returns (database, work folder)."""
    folder.mkdir()
    db = folder / "bake_tracker.db"
    shutil.copyfile(trial.source, db)
    return db, folder / "work"


def kill_delays(trial: Trial, kills: int) -> list[float]:
    """One kill while the program starts, the others spread over the steps (fractions 0.05..0.95)."""
    work = trial.duration - trial.startup
    spread = [trial.startup + work * (0.05 + 0.9 * i / (kills - 2)) for i in range(kills - 1)]
    return [0.05 * trial.duration, *spread]


#: The steps aimed at once each, and where in the step (a fraction of its measured duration).
AIMED = (("backup", 0.5), ("export", 0.3), ("transform", 0.6), ("staging", 0.2), ("import", 0.5),
         ("verify", 0.7))


def crash_at_spread_moments(
    trial: Trial, folder: Path, kills: int, aimed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """``kills`` kills at fixed delays spread over the measured run, then kills aimed inside steps:
    one in each step the fixed delays missed, and more up to ``aimed`` in all.

    The machine's load moves the moments a step runs at, so the aimed kills watch the work folder
    and kill at a fraction of the step's measured duration after it starts.
    """
    phases: dict[str, int] = {}
    report = []

    def note(label: str, status: int, where: Path) -> None:
        phase, state = recover(trial, where, status, capsys)
        phases[phase] = phases.get(phase, 0) + 1
        report.append(f"{label:>22} -> killed in {phase:10} database {state}")

    for delay in kill_delays(trial, kills):
        where = folder / f"kill{len(report):02d}"
        db, workdir = fresh_copy(trial, where)
        note(f"after {delay:.2f}s", kill_migration_after(db, workdir, delay), where)
    missed = [i for i, (step, _) in enumerate(AIMED) if step not in phases]
    for i in missed + [i for i in range(aimed) if i % len(AIMED) not in missed][: max(0, aimed - len(missed))]:
        step, fraction = AIMED[i % len(AIMED)]
        fraction = (fraction + 0.37 * (i // len(AIMED))) % 1  # later rounds hit other moments
        start, end = trial.windows["import" if step == "staging" else step]
        delay = fraction * (end - start) * (0.3 if step == "staging" else 1)
        where = folder / f"kill{len(report):02d}"
        db, workdir = fresh_copy(trial, where)
        note(f"{step} +{delay:.2f}s", kill_migration_in(db, workdir, step, delay), where)
    with capsys.disabled():
        print(f"\n{trial.ref.runs} runs, full run {trial.duration:.2f}s (steps start at {trial.startup:.2f}s), "
              f"{len(report)} kills: " + ", ".join(f"{p} {n}" for p, n in phases.items()))
        print("\n".join(report))
    steps_hit = set(phases) - {"startup", "finished"}
    assert len(steps_hit) >= 4, f"the kills were not spread over the steps: {phases}"


def test_crash_at_any_moment_leaves_original_or_migrated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = make_trial(tmp_path, runs=3000)
    crash_at_spread_moments(trial, tmp_path, kills=8, aimed=0, capsys=capsys)


@pytest.mark.slow
def test_crash_at_any_moment_leaves_original_or_migrated_large(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trial = make_trial(tmp_path, runs=20_000)
    crash_at_spread_moments(trial, tmp_path, kills=20, aimed=18, capsys=capsys)


@pytest.fixture(scope="module")
def small_trial(tmp_path_factory: pytest.TempPathFactory) -> Trial:
    return make_trial(tmp_path_factory.mktemp("crash-points"), runs=400)


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_crash_at_any_moment_named_point(
    point: str, small_trial: Trial, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, workdir = tmp_path / "bake_tracker.db", tmp_path / "work"
    shutil.copyfile(small_trial.source, db)
    killed = run_with_crash_point(point, "migrate", db, "--workdir", workdir, "--yes", "--quiet")
    assert killed.returncode == -9, killed.stderr
    expected = "migrated" if point.startswith("switch: renamed") else "original"
    assert database_state(db, small_trial.ref) == expected
    assert artefact_problems(db, workdir) == []
    rerun_finishes(db, workdir, small_trial.ref, capsys)
    if point.startswith("switch"):
        assert "nothing to do" in rerun_finishes(db, workdir, small_trial.ref, capsys)


def test_crash_mid_import_leaves_no_journal_for_the_fresh_staging(small_trial: Trial, tmp_path: Path) -> None:
    from bakemigrate.pipeline import Migration

    db, workdir = tmp_path / "bake_tracker.db", tmp_path / "work"
    shutil.copyfile(small_trial.source, db)
    point = "import: first chunk inserted, not committed"
    assert run_with_crash_point(point, "migrate", db, "--workdir", workdir, "--yes", "--quiet").returncode == -9
    assert (workdir / "staging.db-journal").exists()  # the killed transaction's hot journal
    Migration(db, workdir, progress=False).reset()
    assert not (workdir / "staging.db-journal").exists()
