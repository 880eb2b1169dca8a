"""Answering no at the terminal: exit 1 and one line saying what was kept, for migrate and rollback alike."""

from __future__ import annotations

import subprocess
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


def after_the_answer(output: str) -> str:
    """What the command printed after the answer, as one message: at the terminal a line longer than
    its 80 columns wraps at word boundaries (every piece fits, except a single word longer than a line,
    such as a deep temporary path), indented after the first."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert all(len(line) <= 80 or len(line.split()) == 1 for line in lines), lines
    first = max(i for i, line in enumerate(lines) if not line.startswith("  "))
    return " ".join(line.strip() for line in lines[first:])


def test_declining_the_switch_exits_1_and_says_what_was_kept(demo_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    digest = sha256_file(demo_db)
    code, output = answer_no("migrate", str(demo_db), "--workdir", str(work), "--quiet")
    assert code == 1, output
    last = after_the_answer(output)
    assert last == f"declined: {demo_db} is kept as it is (not switched; the verified copy waits in {work}/staging.db)"
    assert "error:" not in output
    assert sha256_file(demo_db) == digest


def test_declining_the_rollback_exits_1_with_the_same_wording(demo_db: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert main(["migrate", str(demo_db), "--workdir", str(work), "--yes", "--quiet"]) == 0
    migrated = content_digest(demo_db)
    code, output = answer_no("rollback", str(demo_db), "--workdir", str(work))
    assert code == 1, output
    last = after_the_answer(output)
    assert last == f"declined: {demo_db} is kept as it is (not rolled back; the backup stays in the work folder)"
    assert content_digest(demo_db) == migrated


def test_an_error_at_an_80_column_terminal_wraps_between_words_and_piped_stays_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "a folder with a rather long name" / "another folder inside it" / "bake_tracker.db"
    child = pexpect.spawn(sys.executable, ["-m", "bakemigrate", "migrate", str(missing), "--yes"], cwd=str(REPO),
                          encoding="utf-8", timeout=120, dimensions=(24, 80))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    lines = [line for line in child.before.splitlines() if line.strip()]
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines), lines
    message = " ".join(line.strip() for line in lines)
    assert message.startswith("error: ") and str(missing) in message, message
    piped = subprocess.run([sys.executable, "-m", "bakemigrate", "migrate", str(missing), "--yes"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 2 and piped.stderr.count("\n") == 1 and piped.stderr.startswith("error: ")
    assert " ".join(piped.stderr.split()) == message


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
