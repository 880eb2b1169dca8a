"""The registry of steps: the one list the dry run, the command line and the notebook read."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import pytest
from fixture_paths import REPO

from bakemigrate import Migration, migrate, steps
from bakemigrate.cli import build_parser, main
from bakemigrate.notebook import NEEDS, STEPS

NOTEBOOK = REPO / "notebooks" / "migrate_v0.6_to_v0.7.ipynb"


def test_the_steps_in_order_each_with_its_method_and_its_function() -> None:
    assert [s.name for s in steps.STEPS] == ["preflight", "backup", "export", "transform", "reset", "import",
                                             "verify", "switch", "rollback"]
    assert [s.number for s in steps.STEPS] == list(range(9))
    assert [s.name for s in steps.PLAN] == ["backup", "export", "transform", "reset", "import", "verify", "switch"]
    for step in steps.STEPS:
        assert callable(getattr(Migration, step.method)), step.name
        module, _, function = step.function.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), step.function
        assert steps.step(step.name) is step
    assert steps.step("import").method == "import_" and steps.step("import").label == "5 · import"


def test_each_step_needs_only_what_an_earlier_step_produces(tmp_path: Path) -> None:
    migration = Migration(tmp_path / "bake_tracker.db", tmp_path / "work")
    assert migration.export_v10.name in steps.step("export").produces
    assert migration.export_v11.name in steps.step("transform").produces
    assert migration.staging.name in steps.step("reset").produces
    made = {"DB"}
    for step in steps.STEPS:
        assert set(step.needs) <= made, (step.name, set(step.needs) - made)
        made |= set(step.produces)


def test_the_dry_run_plan_is_the_registry(demo_db: Path, tmp_path: Path, capsys) -> None:
    code = main(["migrate", str(demo_db), "--workdir", str(tmp_path / "work"), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0, out
    plan = out.split("plan:\n", 1)[1].splitlines()[:len(steps.PLAN)]
    assert plan == [f"  {step.name}: to run" for step in steps.PLAN]


@pytest.mark.parametrize("deleted", [("export_v1.0.json",), ("export_v1.1.json",),
                                     ("export_v1.0.json", "export_v1.1.json")],
                         ids=["v1.0", "v1.1", "both"])
def test_the_dry_run_plans_what_the_run_then_runs_when_a_document_is_gone_after_the_import(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], deleted: tuple[str, ...]
) -> None:
    work = tmp_path / "work"
    migration = Migration(demo_db, work, progress=False)
    migration.backup()
    migration.import_()  # runs the export, the transform and the reset first
    for name in deleted:
        (work / name).unlink()

    assert main(["migrate", str(demo_db), "--workdir", str(work), "--dry-run"]) == 0
    lines = capsys.readouterr().out.split("plan:\n", 1)[1].splitlines()[:len(steps.PLAN)]
    planned = dict(line.strip().split(": ", 1) for line in lines)
    assert planned["import"].startswith("done earlier")  # judged from the document it imported
    to_run = [name for name, what in planned.items() if what.startswith("to run")]

    result = migrate(demo_db, work, yes=True, progress=False, echo=lambda text: None,
                     on_step=lambda step, result, earlier: None)
    assert result.outcome == "migrated", result.message
    ran = [line.split(" (")[0] for line in result.steps if line.endswith("(ran)")]
    assert ran == to_run
    assert "import (done earlier)" in result.steps


def test_every_step_with_a_command_is_a_command_and_the_help_lists_the_plan(capsys) -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    assert {s.command for s in steps.STEPS if s.command} <= set(commands)
    described = " ".join(parser.description.split("the whole migration", 1)[1].split("rollback", 1)[0].split())
    listed = re.search(r"v0\.7: (.*) after you say yes", described).group(1)
    assert listed == ", ".join(s.name for s in steps.PLAN[:-1]) + f", then {steps.PLAN[-1].name}"


def test_each_step_command_is_named_and_numbered_by_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    for planned in steps.STEPS:
        if planned.command is None:
            continue
        with pytest.raises(SystemExit) as done:
            main([planned.command, "--help"])
        assert done.value.code == 0
        page = capsys.readouterr().out
        assert page.startswith(f"usage: bakemigrate {planned.command} ")
        description = page.split("\n\n")[1]  # the paragraph after the usage lines
        if planned in steps.PLAN:
            assert description.startswith(f"Step {planned.number}: "), description
        else:
            assert not description.startswith("Step "), description


def test_the_notebook_cells_and_labels_come_from_the_registry() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.id: c.source for c in nb.cells if c.cell_type == "code"}
    for step in steps.STEPS:
        assert step.cell in cells, step.cell
        if step.name != "rollback":
            assert f'.run("{step.name}")' in cells[step.cell], step.cell
    assert STEPS == {s.name: s.label for s in steps.STEPS}
    assert NEEDS == {b.name: a.name for a, b in zip(steps.PLAN, steps.PLAN[1:], strict=False)}
