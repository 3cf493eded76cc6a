"""Finding (or building) the control-plane binaries.

The binaries are built from Go modules by `hack/controlplane/build.sh`, which caches them
under a directory keyed by the pinned versions and prints that directory's `bin` last.
$KIDP_CONTROLPLANE_BIN points at a directory of ready binaries and skips the build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kidp_gitops.devcluster.errors import DevClusterError

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


@dataclass(frozen=True)
class Binaries:
    bin_dir: Path

    def path(self, component: str) -> Path:
        return self.bin_dir / component

    @property
    def kwok_stages(self) -> Path:
        return self.bin_dir.parent / "kwok-stages.yaml"

    def missing(self) -> list[str]:
        found = [c for c in COMPONENTS if os.access(self.path(c), os.X_OK)]
        missing = [c for c in COMPONENTS if c not in found]
        if not self.kwok_stages.is_file():
            missing.append(self.kwok_stages.name)
        return missing


def build_script() -> Path | None:
    """The build script of the checkout this package runs from, if any."""
    for base in (Path(__file__).resolve(), Path.cwd().resolve()):
        for parent in (base, *base.parents):
            candidate = parent / "hack" / "controlplane" / "build.sh"
            if candidate.is_file():
                return candidate
    return None


def ensure_binaries() -> Binaries:
    """Return the binaries, building them first if the cache has none. The build's
    progress goes to stderr; it takes minutes cold and seconds when cached."""
    override = os.environ.get("KIDP_CONTROLPLANE_BIN")
    if override:
        found = Binaries(Path(override))
    else:
        script = build_script()
        if script is None:
            raise DevClusterError(
                "no control-plane binaries: set KIDP_CONTROLPLANE_BIN to a directory holding "
                f"{', '.join(COMPONENTS)}, or run from a kidp-gitops checkout"
            )
        proc = subprocess.run(
            ["bash", str(script)],
            stdout=subprocess.PIPE,
            stderr=_progress_stream(),
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise DevClusterError(
                f"building the control plane failed ({script}, exit "
                f"{proc.returncode}); its output is above"
            )
        found = Binaries(Path(proc.stdout.strip().splitlines()[-1]))
    missing = found.missing()
    if missing:
        raise DevClusterError(
            f"control-plane binaries missing in {found.bin_dir}: {', '.join(missing)}"
        )
    return found


def _progress_stream() -> int | None:
    """Where the build's progress goes: our stderr, or the process's own when ours is
    not a file (inside a test runner)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
