"""Shared test fixtures: where the project's shared data (../shared) lies."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARC_TRM_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared folder beside the checkout (override with ARC_TRM_SHARED); tests needing it skip without it."""
    if not (SHARED / "reference").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set ARC_TRM_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def reference_dir(shared_dir) -> Path:
    """The official parity fixtures: ../shared/reference/{official_att,official_mlp,official_hrm}."""
    return shared_dir / "reference"
