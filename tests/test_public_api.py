"""The public API: what `bakemigrate` exports, imported on first use, and docstrings the API page renders."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from fixture_paths import REPO

import bakemigrate

SPHINX_ROLE = re.compile(r":(?:meth|func|class|attr|mod|data|exc|obj|ref|py:\w+):`")


def test_every_public_name_is_the_object_its_module_defines() -> None:
    names = [n for n in bakemigrate.__all__ if n != "__version__"]
    assert len(names) == len(set(names))
    for name in names:
        value = getattr(bakemigrate, name)
        module = sys.modules[value.__module__]
        assert value.__module__.startswith("bakemigrate.") and getattr(module, name) is value, name
    assert {"migrate", "Migration", "transform_v1_0_to_v1_1", "MigrationError", "VerifyResult"} <= set(names)


def test_public_names_are_imported_on_first_use_only() -> None:
    code = (
        "import sys, bakemigrate\n"
        "assert not [m for m in sys.modules if m.startswith('bakemigrate.')], sorted(sys.modules)\n"
        "from bakemigrate import transform_v1_0_to_v1_1, Migration\n"
        "assert 'bakemigrate.pipeline' in sys.modules\n"
        "assert 'pandas' not in sys.modules and 'sqlalchemy' not in sys.modules\n"
        "import bakemigrate.backup\n"
        "assert bakemigrate.backup is sys.modules['bakemigrate.backup']  # the module, not its function\n"
        "try:\n"
        "    bakemigrate.no_such_name\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "module 'bakemigrate' has no attribute 'no_such_name'"


def _docstrings(tree: ast.Module) -> list[tuple[int, str]]:
    """Every docstring of a module (of the module, its classes, functions and attributes): each string
    that stands alone as a statement."""
    return [(node.lineno, node.value.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)]


def test_docstrings_use_markdown_not_sphinx_roles_and_constants_have_docstrings() -> None:
    problems = []
    for path in sorted((REPO / "bakemigrate").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for line, text in _docstrings(ast.parse(source)):
            if SPHINX_ROLE.search(text):
                problems.append(f"{path.relative_to(REPO)}:{line}: {SPHINX_ROLE.search(text).group(0)}")
        for number, line in enumerate(source.splitlines(), 1):
            if line.lstrip().startswith("#:"):  # invisible to the API page: an attribute docstring instead
                problems.append(f"{path.relative_to(REPO)}:{number}: #: comment")
    assert problems == []


def test_each_step_function_is_called_by_its_command_word() -> None:
    import importlib

    from bakemigrate.steps import STEPS

    for planned in STEPS:
        if planned.command is None:
            continue
        module, name = planned.function.split(":")
        assert name.rstrip("_") == planned.command, planned  # `import_` for `import`, a Python keyword
        assert callable(getattr(importlib.import_module(module), name)), planned.function


def test_earlier_names_of_step_functions_still_import() -> None:
    from bakemigrate import create_demo_database, import_document, transform_file
    from bakemigrate.demo import demo
    from bakemigrate.importer import import_
    from bakemigrate.transform import transform

    assert (transform_file, import_document, create_demo_database) == (transform, import_, demo)
    assert not {"transform_file", "import_document", "create_demo_database"} & set(bakemigrate.__all__)
