"""`.ci/run` runs the README's test command in a fresh clone of the commit, with nothing beside it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fixture_paths import REPO

CI = REPO / ".ci" / "run"


def _quick_start_blocks(readme: str) -> list[str]:
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no Quick start section"
    return re.findall(r"^```bash\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL)


def test_the_readme_quick_start_has_the_demo_and_the_test_command() -> None:
    blocks = _quick_start_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) == 2
    assert "bakemigrate migrate" in blocks[0]
    assert blocks[1].count("\n") == 1 and "pip install -q -e '.[dev]'" in blocks[1]
    assert "-m pytest" in blocks[1]


def _project(root: Path, test_command: str) -> Path:
    """A small git repository holding `.ci/run` and a README whose test command is `test_command`."""
    project = root / "project"
    (project / ".ci").mkdir(parents=True)
    shutil.copy2(CI, project / ".ci" / "run")
    readme = (
        "# demo\n\n## Quick start\n\n```bash\necho demo\n```\n\n"
        f"```bash\n{test_command}\n```\n\n## More\n\n```bash\necho not this one\n```\n"
    )
    (project / "README.md").write_text(readme, encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "demo"]):
        subprocess.run(["git", *command], cwd=project, env=env, check=True)
    return project


def test_ci_runs_the_test_command_in_a_fresh_clone_alone(tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    command = (
        f'{{ pwd; git rev-parse HEAD; ls -A ..; ls -A; }} > "{seen}"; '
        'test ! -e ../shared && test ! -e stray.txt && exit 3'
    )
    project = _project(tmp_path, command)
    (tmp_path / "shared").mkdir()  # a folder beside the checkout must not be beside the clone
    (project / "stray.txt").write_text("not committed", encoding="utf-8")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    done = subprocess.run([str(project / ".ci" / "run")], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr  # the test command's own exit code
    where, commit, beside, *inside = seen.read_text(encoding="utf-8").splitlines()
    assert Path(where) != project and not Path(where).is_relative_to(project)
    assert commit == head
    assert beside == Path(where).name  # the clone is alone in its folder
    assert sorted(inside) == [".ci", ".git", "README.md"]
    assert not Path(where).exists()  # and the clone is gone afterwards
    assert "+ echo demo" not in done.stdout and "not this one" not in done.stdout


def test_ci_passes_when_the_test_command_passes(tmp_path: Path) -> None:
    project = _project(tmp_path, "true")
    done = subprocess.run([str(project / ".ci" / "run")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "+ true" in done.stdout


def test_ci_runs_the_test_command_with_ci_set(tmp_path: Path) -> None:
    project = _project(tmp_path, 'echo "CI is $CI"')
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    done = subprocess.run([str(project / ".ci" / "run")], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CI is true" in done.stdout.splitlines()


def _run_marked_slow(tmp_path: Path, *args: str, ci: str | None) -> str:
    """Run, with this suite's conftest, one test marked slow; return pytest's last line."""
    tmp_path.mkdir()
    for name in ("conftest.py", "fixture_paths.py"):
        shutil.copy2(REPO / "tests" / name, tmp_path / name)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: long\n", encoding="utf-8")
    (tmp_path / "test_long.py").write_text("import pytest\n\n\n@pytest.mark.slow\ndef test_long():\n    pass\n",
                                           encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    return done.stdout.strip().splitlines()[-1]


def test_the_long_trials_run_in_ci_and_with_slow_only(tmp_path: Path) -> None:
    assert "1 skipped" in _run_marked_slow(tmp_path / "a", ci=None)
    assert "1 skipped" in _run_marked_slow(tmp_path / "b", ci="false")
    assert "1 passed" in _run_marked_slow(tmp_path / "c", ci="true")
    assert "1 passed" in _run_marked_slow(tmp_path / "d", "--slow", ci=None)


def test_no_test_is_skipped_for_a_library_the_package_requires() -> None:
    """A hard dependency is imported directly: a skip would hide a broken installation."""
    listed = re.search(r"^dependencies = \[(.*?)^\]", (REPO / "pyproject.toml").read_text(encoding="utf-8"),
                       re.MULTILINE | re.DOTALL)
    assert listed
    required = {re.split(r"[<>=\[; ]", dep, maxsplit=1)[0].lower() for dep in re.findall(r'"([^"]+)"', listed.group(1))}
    assert {"pandas", "nbclient", "ipykernel"} <= required
    required |= {"ipython", "jupyter_client", "nbformat", "nbclient"}  # what nbclient and ipykernel bring
    skipped = []
    for path in sorted((REPO / "tests").glob("*.py")):
        for name in re.findall(r"importorskip\(\s*[\"']([\w.]+)", path.read_text(encoding="utf-8")):
            if name.split(".")[0].lower() in required:
                skipped.append(f"{path.name}: importorskip({name!r})")
    assert skipped == []
