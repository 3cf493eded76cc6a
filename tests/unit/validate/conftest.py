"""Fixture repositories for `kidp validate`: copies of examples/kidp-infrastructure that
each test breaks in one way, and sops files made by the real `sops` CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kidp_gitops import validate
from kidp_gitops.validate import Finding, Report

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "kidp-infrastructure"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fresh copy of the example repository."""
    target = tmp_path / "repo"
    shutil.copytree(EXAMPLE, target)
    return target


def run(root: Path, **options: object) -> Report:
    return validate.validate(root, validate.Options(**options))  # type: ignore[arg-type]


def failing(report: Report) -> list[Finding]:
    """The findings that fail a run (errors), sorted."""
    return [f for f in report.sorted() if f.severity == "error"]


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def replace(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1))


def line_of(root: Path, relative: str, needle: str) -> int:
    """The 1-based line of the first line of a file that holds `needle`."""
    for number, line in enumerate((root / relative).read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {relative}")
