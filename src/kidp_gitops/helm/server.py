"""Where the Helm helper is: kidp-helm-server, Helm's Go SDK serving the engine's helm
actions over pipes (`hack/helm/server`; the client is `runner`).

    find() -> Path        the helper to start; raises HelmNotFoundError with what to do

`hack/helm/server/build.sh` (`make helm-server`, part of `make setup`) builds it into
`<cache>/helm/server-<helm version>-<sources>/bin/kidp-helm-server`, <sources> being the
start of a sha256 over the server's go.mod, go.sum and Go files (tests aside), so a
changed server is built anew. The order of the search, as for helm (`binary`):

1. $KIDP_HELM_SERVER, a path to the helper (used as is: a wrong path is an error);
2. in a kidp-gitops checkout, the cached build of its sources, else the build script, run
   once (minutes when cold);
3. `kidp-helm-server` on $PATH (the engine's image installs it there).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path

from kidp_gitops.helm import binary

ENV_OVERRIDE = "KIDP_HELM_SERVER"
PROGRAM = "kidp-helm-server"

_build_lock = threading.Lock()


def find() -> Path:
    """The helper to start (see the module docstring for the order of the search)."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        path = Path(override)
        if not _executable(path):
            raise binary.HelmNotFoundError(f"${ENV_OVERRIDE} is {override}: not an executable file")
        return path
    sources = _sources()
    if sources is not None:
        cached = cached_path(sources)
        return cached if _executable(cached) else _build(sources, cached)
    on_path = shutil.which(PROGRAM)
    if on_path:
        return Path(on_path)
    raise binary.HelmNotFoundError(
        f"{PROGRAM} is not installed: set ${ENV_OVERRIDE} to it, put it on PATH, or run "
        "`make helm-server` in a kidp-gitops checkout"
    )


def key(sources: Path) -> str:
    """What build.sh names a build by: sha256 over `sha256sum`'s lines for go.mod, go.sum
    and the Go files but tests (sorted by name), its first 16 hex digits."""
    go = [p.name for p in sources.glob("*.go") if not p.name.endswith("_test.go")]
    names = sorted(["go.mod", "go.sum", *go])
    lines = "".join(
        f"{hashlib.sha256((sources / name).read_bytes()).hexdigest()}  {name}\n" for name in names
    )
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def cached_path(sources: Path) -> Path:
    name = f"server-{binary.HELM_VERSION}-{key(sources)}"
    return binary.cache_dir() / "helm" / name / "bin" / PROGRAM


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _sources() -> Path | None:
    """The helper's sources in the checkout this package runs from, if any."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "hack" / "helm" / "server"
        if (candidate / "build.sh").is_file():
            return candidate
    return None


def _build(sources: Path, cached: Path) -> Path:
    with _build_lock:
        if _executable(cached):
            return cached
        script = sources / "build.sh"
        env = {**os.environ, "HELM_VERSION": binary.HELM_VERSION}
        proc = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, env=env, check=False
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines or not _executable(Path(lines[-1])):
            tail = " ".join(proc.stderr.strip().splitlines()[-3:])
            raise binary.HelmNotFoundError(
                f"building {PROGRAM} with {script} failed (exit {proc.returncode}): "
                f"{tail or 'no output'}"
            )
        return Path(lines[-1])
