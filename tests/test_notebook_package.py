"""The notebook package: the in-kernel guide and the headless runner, sharing one contract."""

from __future__ import annotations

import ast

from fixture_paths import REPO

import bakemigrate.notebook as notebook
from bakemigrate.notebook import contract, guide, runner


def test_the_package_offers_the_names_of_the_guide_and_of_the_runner() -> None:
    for name in notebook.__all__:
        value = getattr(notebook, name)
        homes = [m for m in (contract, guide, runner) if getattr(m, name, None) is value and name in vars(m)]
        assert homes, name
    assert notebook.here is guide.here and notebook.run_notebook is runner.run_notebook


def test_guide_and_runner_share_the_contract_constants() -> None:
    for name in ("PARAMETERS", "OUTCOME_KEY"):
        assert getattr(guide, name) is getattr(contract, name) is getattr(runner, name), name
    assert runner.NOTEBOOK_NAME is contract.NOTEBOOK_NAME
    assert runner.notebook_path().name == contract.NOTEBOOK_NAME


def _module_imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_guide_needs_no_kernel_client_and_the_runner_no_display() -> None:
    folder = REPO / "bakemigrate" / "notebook"
    assert not _module_imports(folder / "guide.py") & {"nbclient", "nbformat", "nbconvert", "jupyter_client"}
    assert not _module_imports(folder / "runner.py") & {"IPython", "pandas", "matplotlib"}


def test_the_backup_folder_is_named_by_the_backup_module_alone() -> None:
    """Every other module asks `backup_paths` where the backup is, instead of joining "backup" by hand."""
    joined = []
    for path in sorted((REPO / "bakemigrate").rglob("*.py")):
        if path.name == "backup.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                for side in (node.left, node.right):
                    if isinstance(side, ast.Constant) and side.value == "backup":
                        joined.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert joined == []
