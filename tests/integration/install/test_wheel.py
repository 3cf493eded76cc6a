"""The wheel people install until a package is published: `python -m build` (the run's
`engine_wheel`, install/conftest.py), then a fresh virtual environment with only that
wheel (its dependencies from PyPI) runs `kidp`.

An integration test for its cost, not for a cluster: it installs from PyPI. The venv has
no pip of its own (the suite's pip installs into it: ensurepip cost ~6 CPU-s) and no
bytecode compiled ahead (Python compiles what `kidp` imports as it runs).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kidp_gitops import __version__

REPO = Path(__file__).resolve().parents[3]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{argv[:4]}: {done.stderr[-3000:]}"
    return done


def test_the_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path, engine_wheel: Path) -> None:
    wheel = engine_wheel
    assert wheel.name == f"kidp_gitops-{__version__}-py3-none-any.whl"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin/python")]
    run([*pip, "install", "-q", "--no-compile", str(wheel)], tmp_path)
    assert not (venv / "bin" / "pip").exists()  # only the wheel and what it depends on

    # Outside the checkout, so nothing of it is found by accident.
    version = run([str(venv / "bin/kidp"), "version"], tmp_path)
    assert version.stdout == f"{__version__}\n"
    example = REPO / "examples" / "kidp-infrastructure"
    validated = run([str(venv / "bin/kidp"), "validate", str(example)], tmp_path)
    assert "✔ valid" in validated.stdout + validated.stderr
    # kustomize built the example's kustomizations: the kubectl the wheel depends on.
    assert (venv / "bin" / "kubectl").is_file()
