"""`.ci/run` runs the README's test command in a fresh clone of the commit, with nothing beside it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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
