"""Fixtures for the kustomize tests: the PRD's repository layout in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.render.layout import prd_repository


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return prd_repository(tmp_path / "artifact")
