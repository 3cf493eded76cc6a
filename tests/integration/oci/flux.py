"""The flux CLI of the OCI tests: built from its Go module by hack/flux/build.sh (cached
by version), the reference our artifact format is checked against."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

FLUX_VERSION = "v2.9.5"  # keep in step with hack/flux/build.sh
REPO_ROOT = Path(__file__).resolve().parents[3]


def binary() -> Path:
    """The flux program, built on first use (cached)."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "hack/flux/build.sh")],
        env={**os.environ, "FLUX_VERSION": FLUX_VERSION},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip().splitlines()[-1]) / "flux"


async def run(flux: Path, home: Path, *args: str) -> str:
    """`flux ARGS` (no kubeconfig needed for the artifact verbs); its output, or a failure
    that shows it."""
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
    done = await asyncio.to_thread(
        subprocess.run, [str(flux), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, f"flux {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr
