"""Flux's own source-controller and helm-controller beside a bench environment, so a
scenario measures Flux on exactly the workload it measures kidp on (`python -m bench
--only helm --helm-engine flux`).

    ensure_built(mirrors) -> Built       build each controller once, or reuse the cache
    Built.crds()                         their CRDs, to install in place of kidp's
    FluxControllers(...)                 the two as host processes: spawn, ready, stop

Sources: bare git mirrors of github.com/fluxcd/<name> (by default
/work/.mirror/fluxcd+<name>/repo; `--flux-src` names another root) at the pinned tags.
`git archive <tag>` gives a tree whose go.mod replaces the controller's `api` module by
`./api`, so it builds alone with every other module from the Go proxy — except a module
the proxy refuses, which `Controller.replaces` names with what is built instead and why
(helm-controller's Helm fork: see HELM_CONTROLLER); such a build carries the substitution
in its cache key and in the versions a result records. The binary and the tag's CRDs
(`config/crd/bases`) are cached in `<cache>/flux-controllers/<label>/` (`bin/<name>`,
`crds/*.yaml`; the label is name and version), <cache> as for helm
(`kidp_gitops.helm.binary.cache_dir`): built once, reused after. A build goes to a
temporary directory renamed into place, so an interrupted build never looks complete.
Bench only: neither `make setup` nor the suite builds them.

The processes run as Flux's Deployments would, with what a host needs instead of a pod:
every address on loopback at a free port (the artifact server advertised at the address
it binds), the storage in the environment's directory, no leader election, the bench's
admin kubeconfig (through $KUBECONFIG, which controller-runtime reads when no
`--kubeconfig` flag is registered), and `--concurrent` given by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.helm import binary

DEFAULT_MIRRORS = Path("/work/.mirror")
"""Where the bare mirrors of Flux's repositories are on the bench machine."""
CACHE_NAME = "flux-controllers"


@dataclass(frozen=True)
class Replace:
    """A module the tag's go.mod takes from where this machine cannot get it, and what
    the build takes instead (`go mod edit -replace`)."""

    module: str
    instead: str
    """`path@version`"""
    why: str


@dataclass(frozen=True)
class Controller:
    """One of Flux's controllers at a release tag."""

    name: str
    version: str
    replaces: tuple[Replace, ...] = ()

    def mirror(self, mirrors: Path) -> Path:
        """The bare git directory of its repository under a root of mirrors."""
        return mirrors / f"fluxcd+{self.name}" / "repo"

    def label(self) -> str:
        """Name and version, and any module taken from elsewhere than the tag says: a
        build that differs from the release never shares its cache entry or its name in
        a result."""
        return f"{self.name}-{self.version}" + "".join(
            f"+{r.instead.replace('/', '_')}" for r in self.replaces
        )

    def home(self, cache: Path) -> Path:
        """Its cache entry, keyed by `label()`."""
        return cache / CACHE_NAME / self.label()

    def binary(self, cache: Path) -> Path:
        return self.home(cache) / "bin" / self.name

    def crds(self, cache: Path) -> Path:
        return self.home(cache) / "crds"


SOURCE_CONTROLLER = Controller("source-controller", "v1.9.1")
HELM_CONTROLLER = Controller(
    "helm-controller",
    "v1.6.3",
    (
        Replace(
            "helm.sh/helm/v4",
            "helm.sh/helm/v4@v4.2.4",
            # v1.6.3's go.mod replaces Helm by Flux's fork, github.com/fluxcd/helm/v4
            # v4.2.4-flux.1 — by its name upstream v4.2.4 with Flux's patches; the
            # commit that pinned it (4bd9db2, helm-controller#1545) fixes empty lines
            # vanishing from rendered manifests. The Go proxy here answers 403 "This
            # module version is not available." for that module, so the build takes
            # upstream v4.2.4. helm-controller's waits are its own (internal/action/
            # wait.go, fluxcd/pkg/ssa), not Helm's, so what this benchmark measures is
            # unchanged; a rendering fix may be missing.
            "github.com/fluxcd/helm/v4 v4.2.4-flux.1 is refused by the Go proxy (403)",
        ),
    ),
)
CONTROLLERS = (SOURCE_CONTROLLER, HELM_CONTROLLER)


class FluxSourceMissing(RuntimeError):
    """A controller's source is not where the build looks for it."""


class FluxBuildFailed(RuntimeError):
    """`go build` failed (a module the Go proxy refused, say); the message ends with
    the build's last lines."""


@dataclass(frozen=True)
class Built:
    """The cached controllers, ready to run."""

    cache: Path

    def binary(self, controller: Controller) -> Path:
        return controller.binary(self.cache)

    def crds(self) -> list[dict[str, Any]]:
        """Every CRD of both tags (source-controller's and helm-controller's)."""
        objects: list[dict[str, Any]] = []
        for controller in CONTROLLERS:
            for path in sorted(controller.crds(self.cache).glob("*.yaml")):
                objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
        return objects

    def versions(self) -> dict[str, str]:
        """Each controller's version, with any module its build took from elsewhere."""
        return {
            c.name: " with ".join([c.version, *(r.instead for r in c.replaces)])
            for c in CONTROLLERS
        }

    def substitutions(self) -> list[str]:
        """Why each build differs from its release, if it does."""
        return [
            f"{c.name} {c.version}: {r.instead} in place of {r.module}, as {r.why}"
            for c in CONTROLLERS
            for r in c.replaces
        ]


def is_built(controller: Controller, cache: Path) -> bool:
    exe = controller.binary(cache)
    crds = controller.crds(cache)
    return exe.is_file() and os.access(exe, os.X_OK) and crds.is_dir() and any(crds.glob("*.yaml"))


def ensure_built(mirrors: Path = DEFAULT_MIRRORS, cache: Path | None = None) -> Built:
    """Both controllers, built from `mirrors` unless already cached (minutes when cold:
    the Go module downloads and a compile of Helm's and Kubernetes' packages)."""
    cache = binary.cache_dir() if cache is None else cache
    for controller in CONTROLLERS:
        if not is_built(controller, cache):
            build(controller, mirrors, cache)
    return Built(cache)


def build(controller: Controller, mirrors: Path, cache: Path) -> Path:
    """Build one controller from its mirror into its cache entry; returns the entry."""
    git_dir = controller.mirror(mirrors)
    _check_source(controller, git_dir)
    dest = controller.home(cache)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{controller.name}-", dir=dest.parent))
    try:
        src = tmp / "src"
        _extract(git_dir, controller.version, src)
        for r in controller.replaces:
            _go(src, "mod", "edit", f"-replace={r.module}={r.instead}")
        exe = tmp / "bin" / controller.name
        exe.parent.mkdir()
        began = time.monotonic()
        _go(src, "build", "-trimpath", "-ldflags=-s -w", "-o", str(exe), ".")
        print(f"[flux] built {controller.label()} in {time.monotonic() - began:.0f} s", flush=True)
        (tmp / "crds").mkdir()
        for crd in sorted((src / "config" / "crd" / "bases").glob("*.yaml")):
            shutil.copy2(crd, tmp / "crds" / crd.name)
        shutil.rmtree(src)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _check_source(controller: Controller, git_dir: Path) -> None:
    where = (
        f"{controller.name} {controller.version} is built from a bare git mirror of "
        f"github.com/fluxcd/{controller.name} at {git_dir}"
    )
    if not git_dir.is_dir():
        raise FluxSourceMissing(
            f"{where}, which does not exist; name another root of mirrors with --flux-src"
        )
    tag = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", "--verify", "--quiet",
         f"refs/tags/{controller.version}^{{commit}}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if tag.returncode != 0:
        raise FluxSourceMissing(f"{where}, which has no tag {controller.version}")


def _extract(git_dir: Path, tag: str, into: Path) -> None:
    """The tree of `tag`, streamed from `git archive` (no work tree, no checkout)."""
    into.mkdir(parents=True)
    proc = subprocess.Popen(
        ["git", f"--git-dir={git_dir}", "archive", "--format=tar", tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        tar.extractall(into, filter="data")
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise FluxSourceMissing(f"git archive {tag} of {git_dir} failed: {err.decode()[-500:]}")


def go_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of `go build`: static binaries, and go.mod may be completed from
    the proxy (the archive's go.sum is the release's, but `-mod=mod` keeps a missing
    line from failing the build). VCS stamping is off: an archive has no .git."""
    env = dict(os.environ if base is None else base)
    env["CGO_ENABLED"] = "0"
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    return env


def _go(src: Path, *args: str) -> None:
    """One `go` command in the source tree; its failure ends with go's last lines (a
    module the proxy refuses is named there)."""
    proc = subprocess.run(
        ["go", *args], cwd=src, env=go_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise FluxBuildFailed(f"go {args[0]} in {src} failed (exit {proc.returncode}):\n{tail}")


# ---- flags -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    metrics: int
    health: int
    storage: int = 0
    """The artifact server's port (source-controller only)."""


def source_controller_args(storage_path: Path, ports: Ports, concurrent: int) -> list[str]:
    """Flux's source-controller on loopback; the artifact URL it writes into status is
    the address it binds, so helm-controller downloads from it."""
    return [
        f"--storage-path={storage_path}",
        f"--storage-addr=127.0.0.1:{ports.storage}",
        f"--storage-adv-addr=127.0.0.1:{ports.storage}",
        f"--metrics-addr=127.0.0.1:{ports.metrics}",
        f"--health-addr=127.0.0.1:{ports.health}",
        f"--concurrent={concurrent}",
        "--enable-leader-election=false",
    ]


def helm_controller_args(ports: Ports, concurrent: int) -> list[str]:
    return [
        f"--metrics-addr=127.0.0.1:{ports.metrics}",
        f"--health-addr=127.0.0.1:{ports.health}",
        f"--concurrent={concurrent}",
        "--enable-leader-election=false",
    ]


def engine_concurrency(engine_args: Sequence[str], default: int) -> int:
    """The `--concurrency` the bench gives kidp's engine (its default when not given), so
    Flux's `--concurrent` matches it."""
    value: str | None = None
    args = iter(engine_args)
    for arg in args:
        if arg == "--concurrency":
            value = next(args, None)
        elif arg.startswith("--concurrency="):
            value = arg.split("=", 1)[1]
    return default if value is None else int(value)


def free_ports(count: int) -> list[int]:
    taken: set[int] = set()
    for _ in range(count):
        taken.add(free_port(exclude=taken))
    return sorted(taken)


# ---- processes -------------------------------------------------------------------------


class FluxControllers:
    """source-controller and helm-controller as host processes of one environment."""

    def __init__(self, built: Built, root: Path, logs: Path, kubeconfig: Path, concurrent: int):
        self.built = built
        self.root = root
        self.logs = logs
        self.kubeconfig = kubeconfig
        self.concurrent = concurrent
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.health: dict[str, int] = {}

    def args(self) -> dict[str, list[str]]:
        """Each controller's flags, with fresh free ports."""
        metrics_s, health_s, storage, metrics_h, health_h = free_ports(5)
        source = Ports(metrics_s, health_s, storage)
        helm = Ports(metrics_h, health_h)
        self.health = {SOURCE_CONTROLLER.name: health_s, HELM_CONTROLLER.name: health_h}
        return {
            SOURCE_CONTROLLER.name: source_controller_args(
                self.root / "storage", source, self.concurrent
            ),
            HELM_CONTROLLER.name: helm_controller_args(helm, self.concurrent),
        }

    def spawn(self) -> None:
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        (self.root / "storage").mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),  # Helm's config and cache stay in the environment
            "KUBECONFIG": str(self.kubeconfig),
        }
        for name, args in self.args().items():
            controller = next(c for c in CONTROLLERS if c.name == name)
            with open(self.logs / f"{name}.log", "ab") as log:
                self.procs[name] = subprocess.Popen(
                    [str(self.built.binary(controller)), *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env=env,
                    cwd=self.root,
                )

    async def wait_ready(self, timeout: float = 120) -> float:
        """Seconds until both answer /readyz with 200."""
        began = time.monotonic()
        async with aiohttp.ClientSession() as http:
            for name, port in self.health.items():
                while not await _ready(http, port):
                    if self.procs[name].poll() is not None:
                        raise RuntimeError(f"{name} exited; see {self.logs / f'{name}.log'}")
                    if time.monotonic() - began > timeout:
                        raise RuntimeError(f"{name} was not ready in {timeout:.0f} s")
                    await asyncio.sleep(0.1)
        return time.monotonic() - began

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def stop(self, grace: float = 30) -> None:
        # Their graceful shutdown waits up to 10 minutes for reconciles in flight; the
        # bench stops them after its waves, when nothing it measures is left running.
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _ready(http: aiohttp.ClientSession, port: int) -> bool:
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with http.get(
            f"http://127.0.0.1:{port}/readyz", timeout=aiohttp.ClientTimeout(total=2)
        ) as resp:
            return resp.status == 200
    return False
