"""Turning a chart into the HelmChart artifact: values files, dependencies, `helm package`.

    meta = read_chart(chart_dir, "./charts/app")        # name, version, dependencies
    values, found = merge_values(base, files, ignore_missing=False)
    tgz = await Helm(find_helm, home).package(chart_dir, out, "./charts/app", "1.0.0+abc", tmp)
    root = unpack_chart(tgz.read_bytes(), dest, "app")  # dest/<chart name>/Chart.yaml ...

Everything that can fail raises `ChartError` with the Flux reason to report
(`ChartPackageError`, `InvalidChartReference`, `IllegalPath`) and a message that names
the chart. `helm` runs with a private HOME and Helm directories: no user configuration,
no repository cache shared with anyone, nothing left behind.

The artifact is the unpacked chart packed again by the artifact store (sorted entries,
zero times), not helm's archive, whose timestamps would make every build a new digest.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.proc import sandbox
from kidp_gitops.proc.run import TimedOut, run
from kidp_gitops.runtime import transform
from kidp_gitops.storage import untar

CHART_PACKAGE_ERROR = "ChartPackageError"
CHART_PULL_ERROR = "ChartPullError"
INVALID_CHART_REFERENCE = "InvalidChartReference"
ILLEGAL_PATH = "IllegalPath"

MAX_UNPACKED_SIZE = 100 * 1024 * 1024
CHART_LIMITS = untar.Limits(MAX_UNPACKED_SIZE, links=False)
"""The most a chart archive may unpack to."""

HelmFinder = Callable[[], Path]
"""Returns the helm binary (it may build it the first time); raises when there is none."""


class ChartError(Exception):
    """A chart could not be read, built or packaged; carries the Flux reason."""

    def __init__(self, reason: str, message: str, *, stalled: bool = False):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.stalled = stalled


@dataclass(frozen=True)
class ChartMeta:
    name: str
    version: str
    dependencies: tuple[dict[str, Any], ...]


def inside(root: Path, rel: str, what: str) -> Path:
    """`root/rel`, refusing (IllegalPath, stalled) a path that leaves `root`."""
    target = (root / rel.lstrip("/")).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ChartError(ILLEGAL_PATH, f"{what} '{rel}' is outside the source", stalled=True)
    return target


def read_chart(chart_dir: Path, shown: str) -> ChartMeta:
    """The metadata of the chart in `chart_dir` (`shown` names it in messages)."""
    chart_file = chart_dir / "Chart.yaml"
    if not chart_file.is_file():
        raise ChartError(
            INVALID_CHART_REFERENCE,
            f"no Helm chart at '{shown}': "
            + ("Chart.yaml is missing" if chart_dir.is_dir() else "no such directory"),
            stalled=True,
        )
    try:
        doc = yaml.safe_load(chart_file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ChartError(
            CHART_PACKAGE_ERROR, f"chart '{shown}': Chart.yaml is not valid YAML", stalled=True
        ) from err
    if not isinstance(doc, dict) or not doc.get("name") or not doc.get("version"):
        raise ChartError(
            CHART_PACKAGE_ERROR,
            f"chart '{shown}': Chart.yaml needs a name and a version",
            stalled=True,
        )
    deps = doc.get("dependencies") or []
    return ChartMeta(
        name=str(doc["name"]),
        version=str(doc["version"]),
        dependencies=tuple(d for d in deps if isinstance(d, dict)),
    )


def merge_values(
    base: Path, files: list[str], *, ignore_missing: bool
) -> tuple[dict[str, Any], list[str]]:
    """The values files under `base`, merged in order (later files win, maps merge
    key by key), and the files that were found."""
    merged: dict[str, Any] = {}
    found: list[str] = []
    for rel in files:
        path = inside(base, rel, "values file")
        if not path.is_file():
            if ignore_missing:
                continue
            raise ChartError(
                INVALID_CHART_REFERENCE, f"values file '{rel}' not found", stalled=True
            )
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ChartError(
                CHART_PACKAGE_ERROR, f"values file '{rel}' is not valid YAML", stalled=True
            ) from err
        if not isinstance(doc, dict):
            raise ChartError(
                CHART_PACKAGE_ERROR, f"values file '{rel}' is not a map of values", stalled=True
            )
        merged = transform.merge_maps(merged, doc)
        found.append(rel)
    return merged, found


def write_values(chart_dir: Path, values: dict[str, Any]) -> None:
    (chart_dir / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=True))


def check_local_dependencies(chart_dir: Path, source_root: Path, meta: ChartMeta) -> bool:
    """Whether the chart has `file://` dependencies (all inside the source), so that
    `helm dependency build` must run."""
    local = False
    for dep in meta.dependencies:
        repo = str(dep.get("repository") or "")
        if repo.startswith("file://"):
            rel = os.path.relpath(chart_dir / repo.removeprefix("file://"), source_root)
            inside(source_root, rel, f"dependency '{dep.get('name')}' of chart '{meta.name}'")
            local = True
    return local


def unpack_chart(data: bytes, dest: Path, shown: str) -> Path:
    """Unpack a chart archive into `dest`; the chart's directory inside it."""
    try:
        untar.extract(data, dest, CHART_LIMITS)
    except untar.UnsafeArchive as err:
        raise ChartError(
            CHART_PULL_ERROR, f"chart '{shown}' is not a valid chart archive: {err}"
        ) from None
    roots = [p for p in dest.iterdir() if (p / "Chart.yaml").is_file()]
    if len(roots) != 1:
        raise ChartError(CHART_PULL_ERROR, f"chart archive '{shown}' holds no single chart")
    return roots[0]


def tree_files(root: Path) -> list[str]:
    """Every regular file under `root`, relative, sorted."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    )


def _only_archive(out_dir: Path, shown: str) -> Path:
    written = sorted(out_dir.glob("*.tgz"))
    if len(written) != 1:
        raise ChartError(CHART_PACKAGE_ERROR, f"helm package wrote no archive for '{shown}'")
    return written[0]


class Helm:
    """The helm program, run in its own HOME under `home`."""

    def __init__(self, finder: HelmFinder, home: Path, timeout: float = 300.0):
        self._finder = finder
        self._binary: Path | None = None
        self.home = home
        self.timeout = timeout

    async def package(
        self, chart_dir: Path, out_dir: Path, shown: str, version: str | None, scratch: Path
    ) -> Path:
        """`helm package` into `out_dir` (helm creates it); the archive it wrote. helm
        sees only `scratch` (holding both) and no network."""
        args = ["package", str(chart_dir), "--destination", str(out_dir)]
        if version is not None:
            args += ["--version", version]
        await self._run(args, f"package chart '{shown}'", scratch, network=False)
        return _only_archive(out_dir, shown)

    async def dependency_build(self, chart_dir: Path, shown: str, scratch: Path) -> None:
        """Fill `charts/` from Chart.yaml (or its Chart.lock). A Chart.lock that helm
        writes only records when it ran: it is dropped, so the artifact stays the same
        for the same chart. helm sees only `scratch` (the unpacked source) and the
        network, for dependencies from chart repositories."""
        lock = chart_dir / "Chart.lock"
        had_lock = lock.exists()
        await self._run(
            ["dependency", "build", str(chart_dir), "--skip-refresh"],
            f"build the dependencies of chart '{shown}'",
            scratch,
            network=True,
        )
        if not had_lock:
            lock.unlink(missing_ok=True)

    async def _binary_path(self) -> Path:
        if self._binary is None:
            try:
                self._binary = await asyncio.to_thread(self._finder)
            except Exception as err:  # the finder's own error says what to do
                raise ChartError(CHART_PACKAGE_ERROR, f"no helm program: {err}") from err
        return self._binary

    async def _run(self, args: list[str], action: str, scratch: Path, *, network: bool) -> None:
        binary = await self._binary_path()
        home = Path(tempfile.mkdtemp(dir=self.home, prefix="helm-"))
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "LC_ALL": "C",
        }
        # A chart is repository content: helm follows its symlinks, so it runs where
        # nothing but the scratch tree and its own home exist.
        child = sandbox.confine(
            [str(binary), *args], cwd=home, writable=[scratch, home], network=network, env=env
        )
        try:
            done = await run(
                child.argv, env=child.env, cwd=child.cwd, timeout=self.timeout, guard=True
            )
        except TimedOut as exc:
            raise ChartError(
                CHART_PACKAGE_ERROR, f"helm took over {self.timeout:g}s to {action}"
            ) from exc
        finally:
            await asyncio.to_thread(shutil.rmtree, home, ignore_errors=True)
        if done.exceeded == "memory":
            raise ChartError(
                CHART_PACKAGE_ERROR,
                f"helm used more than {sandbox.LIMITS.memory // sandbox.MiB} MiB of memory "
                f"to {action} and was stopped",
            )
        if done.code != 0:
            text = done.stderr.replace(str(home), "~")
            detail = "; ".join(line.strip() for line in text.splitlines() if line.strip())[-800:]
            raise ChartError(
                CHART_PACKAGE_ERROR, f"failed to {action}: {detail or 'helm said nothing'}"
            )
