"""bakemigrate: move a bake-tracker database from v0.6 to v0.7 with nothing lost.

Every step is a plain function; the command line and the guided notebook only call them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import InvalidDocument, MigrationError, VerificationFailed  # noqa: E402
from .transform import transform_v1_0_to_v1_1  # noqa: E402

__all__ = [
    "InvalidDocument",
    "MigrationError",
    "VerificationFailed",
    "transform_v1_0_to_v1_1",
    "__version__",
]
