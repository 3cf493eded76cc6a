"""The cache keys of the image's two layers: the base layer follows the engine's
requirements, helm and the builder, never the engine's code; the app layer follows the
engine's wheel and the base layer under it."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

from hack.image import layers

REQUIRES = ("aiohttp>=3.10", "typer<0.29,>=0.12", "pytest>=8.3; extra == 'dev'")
BASE = "sha256:" + "b" * 64


def wheel(path: Path, requires: Sequence[str], code: str = "x = 1\n") -> Path:
    """A wheel of the engine as hatchling writes one: a module and the METADATA."""
    metadata = "Metadata-Version: 2.4\nName: kidp-gitops\nVersion: 0.1.0\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    metadata += "Description-Content-Type: text/markdown\n\n# kidp-gitops\n\nRequires-Dist: no\n"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("kidp_gitops/__init__.py", code)
        archive.writestr("kidp_gitops-0.1.0.dist-info/METADATA", metadata)
    return path


def inputs(tmp_path: Path, wheel_file: Path, helm: bytes = b"helm") -> layers.Inputs:
    programs = []
    for name, content in (("helm", helm), ("kidp-helm-server", b"helper")):
        program = tmp_path / f"{name}-{content.hex()}"
        program.write_bytes(content)
        programs.append(program)
    pip = tmp_path / "pip-26.3-py3-none-any.whl"
    pip.write_bytes(b"pip")
    return layers.Inputs(wheel_file, layers.requirements(wheel_file), programs, pip)


def test_the_requirements_are_the_wheels_outside_its_extras(tmp_path: Path) -> None:
    found = layers.requirements(wheel(tmp_path / "a.whl", REQUIRES))
    # Sorted, one a line, as pip reads a requirements file; the README's text is not one.
    assert found == "aiohttp>=3.10\ntyper<0.29,>=0.12\n"


def test_a_change_of_the_engines_code_keeps_the_base_layer(tmp_path: Path) -> None:
    one = inputs(tmp_path, wheel(tmp_path / "one.whl", REQUIRES, "x = 1\n"))
    two = inputs(tmp_path, wheel(tmp_path / "two.whl", REQUIRES, "x = 2\n"))
    assert one.wheel.read_bytes() != two.wheel.read_bytes()
    assert layers.base_key(one) == layers.base_key(two)
    # The app layer is built again, and over another base layer it would be too.
    assert layers.app_key(one, BASE) != layers.app_key(two, BASE)
    assert layers.app_key(one, BASE) != layers.app_key(one, "sha256:" + "c" * 64)
    assert layers.app_key(one, BASE) == layers.app_key(one, BASE)


def test_a_change_of_a_requirement_changes_the_base_layer(tmp_path: Path) -> None:
    before = layers.base_key(inputs(tmp_path, wheel(tmp_path / "a.whl", REQUIRES)))
    bumped = ("aiohttp>=3.11", *REQUIRES[1:])
    added = (*REQUIRES, "orjson>=3.10")
    for requires in (bumped, added, REQUIRES[1:]):
        changed = inputs(tmp_path, wheel(tmp_path / "b.whl", requires))
        assert layers.base_key(changed) != before, requires
    # A requirement of the dev extra is not in the image: the base layer stays.
    dev = (*REQUIRES, "ruff>=0.6; extra == 'dev'")
    assert layers.base_key(inputs(tmp_path, wheel(tmp_path / "c.whl", dev))) == before


def test_another_helm_changes_the_base_layer(tmp_path: Path) -> None:
    wheel_file = wheel(tmp_path / "a.whl", REQUIRES)
    one = layers.base_key(inputs(tmp_path, wheel_file, b"helm 3.19"))
    two = layers.base_key(inputs(tmp_path, wheel_file, b"helm 3.20"))
    assert one != two
