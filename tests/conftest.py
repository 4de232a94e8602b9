"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def store(tmp_path):
    from xlcorpus.store import Store

    return Store(tmp_path / "store")


def needs_model(package: str):
    """Skip unless the pinned trained-model package is installed (scripts/models.txt)."""
    import importlib.util

    return pytest.mark.skipif(importlib.util.find_spec(package) is None,
                              reason=f"model package {package} is absent: bash scripts/setup.sh installs it "
                                     "(pinned in scripts/models.txt)")
