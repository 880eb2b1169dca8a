"""Where the test data lives: inside the repository, so a fresh clone runs every test."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "bake-tracker-v0.6"
"""The real bake-tracker v0.6 files (database, v1.0 export, "Export All" v3.4); copy before changing."""
REFERENCE = REPO / "tests" / "fixtures" / "reference"
"""The app's reference schemas (v0.6 and v0.7) and its production-tables notes."""
