"""bakemigrate: move a bake-tracker database from v0.6 to v0.7 with nothing lost.

Every step is a plain function; the command line and the guided notebook only call them. The names
listed in `__all__` are the public API (see the Python API page of the documentation); they are
imported on first use, so `import bakemigrate` stays quick.

Each step function has the word of its command (`bakemigrate import` calls `import_`). The steps
whose function has the name of its module (`backup`, `transform`, `reset`, `verify`, `switch`,
`rollback`, `demo`) are imported from that module, e.g. `from bakemigrate.backup import backup`:
the package attribute of that name is the module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The module that defines each public name.
_EXPORTS = {
    "migrate": "pipeline",
    "Migration": "pipeline",
    "MigrationResult": "pipeline",
    "Preflight": "pipeline",
    "BackupResult": "backup",
    "export": "exporter",
    "ExportResult": "exporter",
    "transform_v1_0_to_v1_1": "transform",
    "TransformReport": "transform",
    "ResetResult": "reset",
    "import_": "importer",
    "ImportReport": "importer",
    "VerifyResult": "verify",
    "SwitchResult": "switch",
    "RollbackPlan": "rollback",
    "RollbackResult": "rollback",
    "DemoSummary": "demo",
    "MigrationError": "errors",
    "InvalidDocument": "errors",
    "DatabaseRefused": "errors",
    "VerificationFailed": "errors",
    "Declined": "errors",
}

# Earlier names of step functions, still importable: each is now called by its command's word.
_EARLIER_NAMES = {
    "transform_file": ("transform", "transform"),
    "import_document": ("importer", "import_"),
    "create_demo_database": ("demo", "demo"),
}

__all__ = [
    "migrate",
    "Migration",
    "MigrationResult",
    "Preflight",
    "export",
    "transform_v1_0_to_v1_1",
    "import_",
    "BackupResult",
    "ExportResult",
    "TransformReport",
    "ResetResult",
    "ImportReport",
    "VerifyResult",
    "SwitchResult",
    "RollbackPlan",
    "RollbackResult",
    "DemoSummary",
    "MigrationError",
    "InvalidDocument",
    "DatabaseRefused",
    "VerificationFailed",
    "Declined",
    "__version__",
]

if TYPE_CHECKING:  # what static tools (type checkers, the API page) read; at run time see __getattr__
    from .backup import BackupResult
    from .demo import DemoSummary
    from .errors import DatabaseRefused, Declined, InvalidDocument, MigrationError, VerificationFailed
    from .exporter import ExportResult, export
    from .importer import ImportReport, import_
    from .pipeline import Migration, MigrationResult, Preflight, migrate
    from .reset import ResetResult
    from .rollback import RollbackPlan, RollbackResult
    from .switch import SwitchResult
    from .transform import TransformReport, transform_v1_0_to_v1_1
    from .verify import VerifyResult


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (the module is not loaded before)."""
    module, attribute = _EARLIER_NAMES.get(name, (_EXPORTS.get(name), name))
    if module is None:
        raise AttributeError(f"module 'bakemigrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
