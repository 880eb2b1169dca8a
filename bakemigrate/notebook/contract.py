"""What the guided notebook, its in-kernel guide and the headless runner agree on."""

from __future__ import annotations

NOTEBOOK_NAME = "migrate_v0.6_to_v0.7.ipynb"
"""The guided notebook's file name (in `notebooks/`, shipped inside the package)."""
PARAMETERS = ("DB_PATH", "WORK_DIR", "INFER_LOSSES", "CONFIRM_SWITCH")
"""The names the `parameters` cell defines (the contract with a headless run)."""
OUTCOME_KEY = "bakemigrate"
"""Key of the output metadata that carries a run's outcome, written by the guide and read back by
`run_notebook`."""
