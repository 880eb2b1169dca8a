"""A second process for a share of a step's work, so that a large migration uses two cores.

The export, the import and the verification of a large history each give a share of the runs (the
second half; for the import, the runs after its first 40%) to a fresh Python interpreter that
imports bakemigrate (nothing of the calling program runs again in it). Its work goes to it as JSON
on its standard input; lines of JSON come back on its standard output: what it tells on the way
(`tell_parent`), then its answer (only data crosses: nothing in it is run). Any failure of the
second process (it cannot start, it meets a problem, it stops) is a `SecondHalfFailed`: the step
then does that share itself, in order, and words any problem as usual.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

_PARENT: int | None = None


class SecondHalfFailed(Exception):
    """The second process could not start, met a problem, or stopped without an answer."""


def tell_parent(value: Any) -> None:
    """In the second process: send ``value`` (a JSON value) to the first process now, before the
    answer (`SecondHalf.said` reads it)."""
    sys.stdout.buffer.write(orjson.dumps(["said", value]) + b"\n")
    sys.stdout.flush()


def stop_if_parent_gone() -> None:
    """In the second process: stop (`SystemExit`) when the process that started it is gone."""
    if _PARENT is not None and os.getppid() != _PARENT:
        raise SystemExit(1)


class SecondHalf:
    """``function`` (``"module:name"``) of bakemigrate called with ``args`` (JSON values) in a second process.

    Used as a context: the process starts on entering; on leaving, it is stopped if it still runs
    and its `result` was not taken (nobody will read its answer).
    """

    def __init__(self, function: str, *args: Any) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._not_started = ""
        self._taken = False
        self._ended: tuple[str, Any] | None = None
        try:
            self._work = orjson.dumps([function, list(args), os.getpid()])
        except TypeError as exc:  # a value JSON does not hold: the caller does it all itself
            self._work, self._not_started = b"", f"the work is not JSON ({exc})"

    def __enter__(self) -> SecondHalf:
        package_folder = str(Path(__file__).resolve().parent.parent)
        code = f"import sys; sys.path.insert(0, {package_folder!r}); from bakemigrate.halves import main; main()"
        try:
            if not self._work:
                return self
            if not sys.executable:
                raise OSError("no Python interpreter to start")
            self._process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            assert self._process.stdin is not None
            self._process.stdin.write(self._work)
            self._process.stdin.close()
        except OSError as exc:  # `result` says so: the caller's own half goes on meanwhile
            self.__exit__(OSError, exc, None)
            self._process, self._not_started = None, str(exc) or "the second process did not start"
        return self

    def said(self) -> Any:
        """The next value the second process sends with `tell_parent`, waited for.

        Raises:
            SecondHalfFailed: it did not start, or it stopped or answered without sending one.
        """
        kind, value = self._message()
        if kind == "said":
            return value
        self._ended = (kind, value)
        raise SecondHalfFailed(value if kind == "failed" else "the second process answered before it said")

    def result(self) -> Any:
        """What the function returned (the values it sent before are passed over).

        Raises:
            SecondHalfFailed: it did not start, it raised, or the process stopped without an answer.
        """
        kind, value = self._ended or self._message()
        while kind == "said":
            kind, value = self._message()
        if kind != "done":
            raise SecondHalfFailed(value)
        return value

    def _message(self) -> tuple[str, Any]:
        """The next line the second process writes, as ``(kind, value)``."""
        if self._process is None or self._process.stdout is None:
            raise SecondHalfFailed(self._not_started or "the second process was not started")
        self._taken = True
        line = self._process.stdout.readline()
        if not line.endswith(b"\n"):  # no whole line: it stopped
            if self._process.wait() != 0:
                raise SecondHalfFailed(f"the second process stopped (exit status {self._process.returncode})")
            raise SecondHalfFailed("the second process gave no answer")
        try:
            kind, value = orjson.loads(line)
        except (orjson.JSONDecodeError, ValueError, TypeError):
            raise SecondHalfFailed("the second process gave no answer") from None
        if kind != "said" and self._process.wait() != 0:
            raise SecondHalfFailed(f"the second process stopped (exit status {self._process.returncode})")
        return kind, value

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        if self._process.poll() is None and (exc[0] is not None or not self._taken):
            self._process.kill()  # its answer would wait for a reader forever
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()


def main() -> None:
    """The second process: its work read from standard input, the function called, its answer (or
    what it raised) written to standard output."""
    global _PARENT
    try:
        function, args, _PARENT = orjson.loads(sys.stdin.buffer.read())
        module, name = function.split(":")
        if module.split(".")[0] != "bakemigrate":
            raise ValueError(f"not a function of bakemigrate: {function}")
        answer: list[Any] = ["done", getattr(importlib.import_module(module), name)(*args)]
    except BaseException as exc:  # any problem: the first process does this half itself and words it
        answer = ["failed", f"{type(exc).__name__}: {exc}"]
    sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")
    sys.stdout.flush()
