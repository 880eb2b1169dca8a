"""Errors that bakemigrate reports to a person as one clear line."""

from __future__ import annotations


class MigrationError(Exception):
    """Input refused or a step that cannot go on: a one-line reason, exit code 2.

    The message is shown as ``error: <message>`` with no traceback, so it must say what is
    wrong and, where it can, what to do about it.
    """

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        # Keep the message on one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))


class InvalidDocument(MigrationError):
    """A JSON document that is malformed, of an unknown kind or fails its JSON Schema."""


class DatabaseRefused(MigrationError):
    """A database file that bakemigrate will not touch (missing, corrupt, foreign, locked...)."""


class VerificationFailed(MigrationError):
    """The migrated copy differs from the original: the original is left untouched (exit 1)."""

    exit_code = 1


class Declined(MigrationError):
    """The person answered no when asked to confirm: nothing was changed (exit 1, not an error)."""

    exit_code = 1
