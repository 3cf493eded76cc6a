"""The wheel people install until a package is published: `python -m build` (the run's
`engine_wheel`, install/conftest.py), then a fresh virtual environment with only that
wheel and what it requires runs `kidp`.

The venv has no pip of its own (the suite's pip installs into it: ensurepip cost ~6 CPU-s)
and no bytecode compiled ahead (Python compiles what `kidp` imports as it runs). pip
resolves the wheel's requirements offline, against files downloaded from PyPI once for
that set of requirements (`dependencies`): resolving against PyPI's index cost ~7 s and
~6 CPU-s of every run, files that PyPI never changes. So a new release of a dependency
reaches this test when the requirements change or the cache is removed; the image
(`make image`) resolves against PyPI for each layer it builds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from kidp_gitops import __version__
from kidp_gitops.helm.binary import cache_dir

REPO = Path(__file__).resolve().parents[3]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{argv[:4]}: {done.stderr[-3000:]}"
    return done


def requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines (METADATA), as pip reads them."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    return sorted(line for line in text.splitlines() if line.startswith("Requires-Dist:"))


def dependencies(wheel: Path) -> Path:
    """A directory of the files `wheel`'s requirements resolve to on PyPI for this Python,
    downloaded (`pip download`) the first time these requirements are asked for, kept
    under <cache>/wheels/<key> after."""
    key = hashlib.sha256(
        "\n".join([sys.implementation.cache_tag, *requirements(wheel)]).encode()
    ).hexdigest()[:24]
    found = cache_dir() / "wheels" / key
    if found.is_dir():
        return found
    found.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=found.parent))
    run([sys.executable, "-m", "pip", "download", "-q", "-d", str(staging), str(wheel)], staging)
    (staging / wheel.name).unlink()  # the wheel under test comes from the run, not from here
    try:
        os.rename(staging, found)
    except OSError:  # another run filled it first: the same requirements, the same files
        shutil.rmtree(staging)
    return found


def test_the_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path, engine_wheel: Path) -> None:
    wheel = engine_wheel
    assert wheel.name == f"kidp_gitops-{__version__}-py3-none-any.whl"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin/python")]
    offline = ["--no-index", f"--find-links={dependencies(wheel)}"]
    run([*pip, "install", "-q", "--no-compile", *offline, str(wheel)], tmp_path)
    assert not (venv / "bin" / "pip").exists()  # only the wheel and what it depends on

    # Outside the checkout, so nothing of it is found by accident.
    version = run([str(venv / "bin/kidp"), "version"], tmp_path)
    assert version.stdout == f"{__version__}\n"
    example = REPO / "examples" / "kidp-infrastructure"
    validated = run([str(venv / "bin/kidp"), "validate", str(example)], tmp_path)
    assert "✔ valid" in validated.stdout + validated.stderr
    # kustomize built the example's kustomizations: the kubectl the wheel depends on.
    assert (venv / "bin" / "kubectl").is_file()
