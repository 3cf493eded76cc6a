"""Where the helm program is.

    find() -> Path        the helm binary to run; raises HelmNotFoundError with what to do

Helm is built from its Go module by `hack/helm/build.sh` (`make helm`, part of `make setup`)
into `<cache>/helm/helm-<version>/bin/helm`, where <cache> is $KIDP_CACHE_DIR, else
$XDG_CACHE_HOME/kidp-gitops, else ~/.cache/kidp-gitops. The order of the search:

1. $KIDP_HELM, a path to a helm binary (used as is: a wrong path is an error, not a fallback);
2. the cached build of the pinned version;
3. in a kidp-gitops checkout, the build script, run once (minutes when cold);
4. `helm` on $PATH.

It imports nothing of ours. The source controller, which runs `helm package`, gets
`find` from the engine (controllers do not import each other).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

__all__ = ["HELM_VERSION", "HelmNotFoundError", "cached_path", "find"]

HELM_VERSION = "v4.3.1"
ENV_OVERRIDE = "KIDP_HELM"

_build_lock = threading.Lock()


class HelmNotFoundError(Exception):
    """No usable helm program; the message says how to get one."""


def cache_dir() -> Path:
    explicit = os.environ.get("KIDP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kidp-gitops"


def cached_path() -> Path:
    """Where `hack/helm/build.sh` puts the pinned version."""
    return cache_dir() / "helm" / f"helm-{HELM_VERSION}" / "bin" / "helm"


def find() -> Path:
    """The helm binary to run (see the module docstring for the order of the search)."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        path = Path(override)
        if not _executable(path):
            raise HelmNotFoundError(f"${ENV_OVERRIDE} is {override}: not an executable file")
        return path
    cached = cached_path()
    if _executable(cached):
        return cached
    script = _build_script()
    if script is not None:
        return _build(script)
    on_path = shutil.which("helm")
    if on_path:
        return Path(on_path)
    raise HelmNotFoundError(
        f"helm is not installed: set ${ENV_OVERRIDE} to a helm binary, put helm on PATH, "
        f"or run `make helm` in a kidp-gitops checkout (builds {HELM_VERSION} into {cached})"
    )


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _build_script() -> Path | None:
    """The build script of the checkout this package runs from, if any."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "hack" / "helm" / "build.sh"
        if candidate.is_file():
            return candidate
    return None


def _build(script: Path) -> Path:
    with _build_lock:
        cached = cached_path()
        if _executable(cached):
            return cached
        env = {**os.environ, "HELM_VERSION": HELM_VERSION}
        proc = subprocess.run(
            ["bash", str(script)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines or not _executable(Path(lines[-1])):
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])
            raise HelmNotFoundError(
                f"building helm {HELM_VERSION} with {script} failed (exit {proc.returncode}): "
                f"{tail or 'no output'}"
            )
        return Path(lines[-1])
