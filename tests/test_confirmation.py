"""Answering no at the terminal: exit 1 and one line saying what was kept, for migrate and rollback alike."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect

from bakemigrate.cli import main
from bakemigrate.db import content_digest, sha256_file

REPO = Path(__file__).resolve().parents[1]


def answer_no(*args: str) -> tuple[int, str]:
    """Run `bakemigrate ARGS` in a pseudo-terminal, answer "n" to its question; its exit code and output."""
    child = pexpect.spawn(sys.executable, ["-m", "bakemigrate", *args], cwd=str(REPO), encoding="utf-8",
                          timeout=300, dimensions=(24, 80))
    child.expect(r"\[y/N\] ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before


def test_declining_the_switch_exits_1_and_says_what_was_kept(demo_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    digest = sha256_file(demo_db)
    code, output = answer_no("migrate", str(demo_db), "--workdir", str(work), "--quiet")
    assert code == 1, output
    last = output.strip().splitlines()[-1]
    assert last == f"declined: {demo_db} is kept as it is (not switched; the verified copy waits in {work}/staging.db)"
    assert "error:" not in output
    assert sha256_file(demo_db) == digest


def test_declining_the_rollback_exits_1_with_the_same_wording(demo_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert main(["migrate", str(demo_db), "--workdir", str(work), "--yes", "--quiet"]) == 0
    migrated = content_digest(demo_db)
    code, output = answer_no("rollback", str(demo_db), "--workdir", str(work))
    assert code == 1, output
    last = output.strip().splitlines()[-1]
    assert last == f"declined: {demo_db} is kept as it is (not rolled back; the backup stays in the work folder)"
    assert content_digest(demo_db) == migrated


def test_no_terminal_to_ask_at_is_a_refusal_with_one_error_line(demo_db: Path, tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["migrate", str(demo_db), "--workdir", str(tmp_path / "work"), "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "run again with --yes" in err[0]


def test_every_help_lists_the_exit_codes(capsys) -> None:
    for argv in (["--help"], ["migrate", "--help"], ["rollback", "--help"], ["locate", "--help"]):
        try:
            main(argv)
        except SystemExit as done:
            assert done.code == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "exit codes: 0 done" in text and "1 verification failed, or you answered no" in text, argv
        assert "2 refused" in text, argv
