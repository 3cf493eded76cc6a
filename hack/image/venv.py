"""The engine's virtual environment (rootfs.VENV), made by the image's own Python in the tree.

    install_dependencies(tree, pip, requirements, resolve, phases)   the base layer's
    install_engine(tree, pip, wheel, phases) -> [name]               the app layer's

That Python runs chrooted into the tree, in a user and mount namespace of its own
(`unshare`, no privilege needed), so the venv's paths and scripts are the image's.
Bytecode is compiled there too, with hash-based invalidation: no timestamp in any .pyc,
so two builds give the same bytes, and nothing needs writing at run time on a read-only
root filesystem.

The base layer's venv holds the engine's dependencies, installed from their requirements
(the engine wheel's Requires-Dist) offline from files in a directory (`Pip.wheels`):
either pip fills it first (`resolve`: the newest versions the requirements allow, from
PyPI) or it holds the files an earlier build resolved to, so a second build of the same
layer installs the same versions. The app layer is what `pip install --no-deps` of the
engine's wheel then adds to that venv, and its bytecode: `install_engine` returns the
names it added and refuses a change to any file the base layer holds, so the app layer
only adds files (no whiteouts).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hack.image import rootfs, spent

# What the image runs: the controller process (the engine imports each controller family
# and the dashboard only when it hosts them) and `kidp validate`.
IMPORTED = (
    "kidp_gitops.daemon.controller",
    "kidp_gitops.dashboard",
    "kidp_gitops.source.controller",
    "kidp_gitops.kustomize.controller",
    "kidp_gitops.helm.controller",
    "kidp_gitops.image",
    "kidp_gitops.notification",
    "kidp_gitops.validate.run",
)

# Run by the host's sh in the build's namespaces: $1 the root filesystem, $2 the
# directory of build inputs (pip's wheel and what it installs), $3 pip's cache, $4 the
# directory of the engine's dependencies; then the command, run chrooted.
_CHROOT = r"""
set -eu
root=$1; inputs=$2; cache=$3; wheels=$4; shift 4
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
mkdir -p "$root/build" "$root/build-cache" "$root/build-wheels"
mount --bind "$inputs" "$root/build"
mount -o remount,bind,ro "$root/build"
mount --bind "$cache" "$root/build-cache"
mount --bind "$wheels" "$root/build-wheels"
: > "$root/etc/resolv.conf"
mount --bind "$(readlink -f /etc/resolv.conf)" "$root/etc/resolv.conf"
exec chroot "$root" /usr/bin/env -i "$@"
"""
_PASSED = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
# What _CHROOT leaves in the tree (empty mount points, resolv.conf's), removed after.
_LEFTOVERS = ("build", "build-cache", "build-wheels", "etc/resolv.conf")
PYTHON = f"{rootfs.VENV}/bin/python"


@dataclass(frozen=True)
class Pip:
    """pip as the build runs it in the tree: from its wheel, in a directory of inputs
    (read-only to the build, at /build) beside what it installs; its cache; and the
    directory of the engine's dependencies (at /build-wheels)."""

    wheel: Path
    cache: Path
    wheels: Path

    @property
    def inputs(self) -> Path:
        return self.wheel.parent

    def argv(self) -> list[str]:
        # pip inside trusts what the host's pip trusts (a proxy's CA, say), for the build
        # only: the file stays with the inputs, outside the image.
        host_ca = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
        cert: list[str] = []
        if os.path.isfile(host_ca):
            shutil.copyfile(host_ca, self.inputs / "host-ca.crt")
            cert = ["--cert=/build/host-ca.crt"]
        return [
            PYTHON,
            f"/build/{self.wheel.name}/pip",
            "--cache-dir=/build-cache",
            "--disable-pip-version-check",
            "--no-input",
            *cert,
        ]


def install_dependencies(
    tree: Path, pip: Pip, requirements: Path, resolve: bool, phases: spent.Spent
) -> None:
    """The venv, with what `requirements` (a file among pip's inputs) names and their
    bytecode, and the bytecode of the image's Python; from PyPI first when `resolve`."""
    if requirements.parent != pip.inputs:
        raise ValueError("the requirements and pip's wheel must share a directory")
    wanted = ["-r", f"/build/{requirements.name}"]
    with phases("pip"):
        chrooted(tree, pip, ["/usr/bin/python3", "-m", "venv", "--without-pip", rootfs.VENV])
        if resolve:
            chrooted(tree, pip, [*pip.argv(), "download", "-q", "-d", "/build-wheels", *wanted])
        offline = ["--no-index", "--find-links=/build-wheels"]
        chrooted(tree, pip, [*pip.argv(), "install", "--no-compile", *offline, *wanted])
    # kidp reads only the strict schemas of kubernetes-validate (validate/schemas.py);
    # the package's lax copies are half its size.
    site = _site_packages(tree)
    # pip marks what it was asked for as REQUESTED; these are the engine's dependencies,
    # as a plain install of its wheel leaves them.
    for requested in sorted(site.glob("*.dist-info/REQUESTED")):
        requested.unlink()
    with phases("lax schemas removed"):
        for lax in sorted((site / "kubernetes_validate/kubernetes-json-schema").glob("v*-local")):
            shutil.rmtree(lax)
    stdlib = f"/usr/lib/{python_name(tree)}"
    with phases("compileall"):
        # A few stdlib files are Python 2 examples; they stay uncompiled.
        _compile(tree, pip, [stdlib, "/usr/lib/python3/dist-packages", _inside(tree, site)])
    _remove_leftovers(tree)


def install_engine(tree: Path, pip: Pip, wheel: Path, phases: spent.Spent) -> list[str]:
    """The engine from `wheel` (among pip's inputs) into the venv `install_dependencies`
    made, its bytecode, and the import check; returns the names (relative to `tree`)
    of what it added."""
    if wheel.parent != pip.inputs:
        raise ValueError("the wheel and pip's wheel must share a directory")
    before = snapshot(tree)
    site = _site_packages(tree)
    present = set(os.listdir(site))
    with phases("pip"):
        argv = [*pip.argv(), "install", "--no-compile", "--no-deps", "--no-index"]
        chrooted(tree, pip, [*argv, f"/build/{wheel.name}"])
    with phases("compileall"):
        new = sorted(set(os.listdir(site)) - present)  # the engine's package, its dist-info
        _compile(tree, pip, [_inside(tree, site / name) for name in new], check=True)
    # Every module of the controller and of `kidp validate` imports, over the base
    # layer's dependencies: a shared library a wheel needs and the image lacks fails the
    # build, not the pod. The engine imports each controller family only when it hosts
    # it, so each is named here.
    with phases("import check"):
        chrooted(tree, pip, [PYTHON, "-c", f"import {', '.join(IMPORTED)}"])
    _remove_leftovers(tree)
    return added(before, snapshot(tree))


# What an entry is, for telling a change: its type and, for a file or a link, its mode,
# size and modification time. A directory's time changes with its content: not compared.
Entry = tuple[int, int, int, int]


def snapshot(tree: Path) -> dict[str, Entry]:
    """Every entry under `tree`, by relative name."""
    found: dict[str, Entry] = {}
    for directory, dirs, files in os.walk(tree):
        base = os.path.relpath(directory, tree)
        for name in dirs + files:
            relative = name if base == "." else f"{base}/{name}"
            st = os.lstat(os.path.join(directory, name))
            if stat.S_ISDIR(st.st_mode):
                found[relative] = (stat.S_IFDIR, 0, 0, 0)
            else:
                found[relative] = (stat.S_IFMT(st.st_mode), st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def added(before: Mapping[str, Entry], after: Mapping[str, Entry]) -> list[str]:
    """The names `after` has and `before` had not, sorted. A layer over another can
    remove or change a file only with whiteouts and copies, which the app layer has no
    reason to need: an install that removes or changes a file fails the build."""
    changed = sorted(n for n in before if after.get(n) != before[n])
    if changed:
        raise RuntimeError(f"installing the engine changed the base layer's files: {changed[:10]}")
    return sorted(set(after) - set(before))


def _compile(tree: Path, pip: Pip, paths: Sequence[str], *, check: bool = False) -> None:
    # Checked against nothing at import (the image never changes): no timestamp in a
    # .pyc, and no stat of each source at start.
    mode = "--invalidation-mode=unchecked-hash"
    argv = [PYTHON, "-m", "compileall", "-q", "-j1", "-f", mode, *paths]
    chrooted(tree, pip, argv, check=check)


def _site_packages(tree: Path) -> Path:
    return tree / rootfs.VENV.lstrip("/") / f"lib/{python_name(tree)}/site-packages"


def _inside(tree: Path, path: Path) -> str:
    """`path` as the chrooted programs see it."""
    return "/" + str(path.relative_to(tree))


def _remove_leftovers(tree: Path) -> None:
    for leftover in _LEFTOVERS:
        path = tree / leftover
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)


def python_name(tree: Path) -> str:
    """The image's Python, as its directories are named: python3.13."""
    return os.readlink(tree / "usr/bin/python3")


def chrooted(tree: Path, pip: Pip, argv: Sequence[str], *, check: bool = True) -> None:
    env = [f"{k}={os.environ[k]}" for k in _PASSED if k in os.environ]
    # No bytecode as a side effect of running (it would hold the sources' times): only
    # compileall's, hash-based.
    env += [f"PATH={rootfs.PATH}", "HOME=/root", "LC_ALL=C.UTF-8", "PYTHONHASHSEED=0"]
    env += ["PYTHONDONTWRITEBYTECODE=1"]
    pip.cache.mkdir(parents=True, exist_ok=True)
    pip.wheels.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--",
            "/bin/sh",
            "-c",
            _CHROOT,
            "kidp-image",
            str(tree),
            str(pip.inputs),
            str(pip.cache),
            str(pip.wheels),
            *env,
            *argv,
        ],
        capture_output=True,
        text=True,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{argv[0]} {argv[1]} failed in the image: {done.stderr[-3000:]}")
