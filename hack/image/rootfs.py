"""The image's root filesystem, assembled in a directory.

    assemble(rootfs, debs, programs, engine, phases)

Debian's packages extracted (`debian`), the users and the CA bundle their maintainer
scripts would have made, helm and the engine's Helm helper, and the engine installed
from its wheel into a virtual environment at VENV by the image's own Python. That Python
runs chrooted into the tree, in a user and mount namespace of its own (`unshare`, no
privilege needed), so the venv's paths and scripts are the image's. Bytecode is compiled
there too, with hash-based invalidation: no timestamp in any .pyc, so two builds give
the same bytes, and nothing needs writing at run time on a read-only root filesystem.

The engine's dependencies are files in a directory (`Engine.wheels`) that pip installs
from offline: either pip fills it first (`Engine.resolve`: the newest versions the
wheel's requirements allow, from PyPI) or it holds the files an earlier build resolved
to, so a second build of the same layer installs the same versions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hack.image import debian, spent

VENV = "/opt/kidp"
UID = 65532
USER = "nonroot"
HOME = f"/home/{USER}"
DATA = "/data"
# Owned by the image's user; everything else belongs to root and is read-only to it.
OWNED = (HOME.lstrip("/"), DATA.lstrip("/"))
# Mount points a runtime fills (the kubelet's volumes, /proc, /dev); empty in the image.
MOUNT_POINTS = ("dev", "proc", "sys", "run", "tmp", DATA.lstrip("/"), "var/run/secrets")
PATH = f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin"
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

_PASSWD = f"""\
root:x:0:0:root:/root:/usr/sbin/nologin
{USER}:x:{UID}:{UID}:{USER}:{HOME}:/usr/sbin/nologin
"""
_GROUP = f"""\
root:x:0:
{USER}:x:{UID}:
"""
_NSSWITCH = """\
passwd: files
group: files
shadow: files
hosts: files dns
"""

# Run by the host's sh in the build's namespaces: $1 the root filesystem, $2 the
# directory of build inputs (the engine's and pip's wheels), $3 pip's cache, $4 the
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


@dataclass(frozen=True)
class Engine:
    """What installs the engine: its wheel and pip's, in one directory (`inputs`, read-only
    to the build), pip's cache, and the directory of the engine's dependencies."""

    wheel: Path
    pip_wheel: Path
    pip_cache: Path
    wheels: Path
    resolve: bool  # pip fills `wheels` from PyPI first; else they are there already

    @property
    def inputs(self) -> Path:
        return self.wheel.parent


def skip(name: str) -> bool:
    return any(name.startswith(p) or name + "/" == p for p in debian.SKIP)


def assemble(
    rootfs: Path,
    debs: Sequence[debian.Deb],
    programs: Sequence[Path],
    engine: Engine,
    phases: spent.Spent,
) -> None:
    for top in ("bin", "sbin", "lib", "lib64"):
        (rootfs / "usr" / top).mkdir(parents=True, exist_ok=True)
        (rootfs / top).symlink_to(f"usr/{top}")
    with phases("extract"):
        for deb in sorted(debs, key=lambda d: d.name):
            debian.extract(deb, rootfs, skip)
    with phases("system files"):
        _system_files(rootfs, debs)
    (rootfs / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    for program in programs:  # helm, and the engine's Helm helper (kidp-helm-server)
        shutil.copyfile(program, rootfs / "usr/local/bin" / program.name)
        (rootfs / "usr/local/bin" / program.name).chmod(0o755)
    for point in (*MOUNT_POINTS, *OWNED):
        (rootfs / point).mkdir(parents=True, exist_ok=True)
    _install_engine(rootfs, engine, phases)
    for leftover in ("build", "build-cache", "build-wheels", "etc/resolv.conf"):
        path = rootfs / leftover
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink(missing_ok=True)


def _system_files(rootfs: Path, debs: Sequence[debian.Deb]) -> None:
    etc = rootfs / "etc"
    (etc / "passwd").write_text(_PASSWD)
    (etc / "group").write_text(_GROUP)
    (etc / "nsswitch.conf").write_text(_NSSWITCH)
    # What update-ca-certificates writes: every certificate the package ships, in one
    # file (OpenSSL, GnuTLS for git's curl, and Python read it).
    certs = sorted((rootfs / "usr/share/ca-certificates").rglob("*.crt"))
    bundle = etc / "ssl/certs/ca-certificates.crt"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(b"".join(c.read_bytes().rstrip(b"\n") + b"\n" for c in certs))
    # dpkg's status file, for scanners that list an image's packages (no dpkg runs here).
    status = rootfs / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True, exist_ok=True)
    status.write_text("\n".join(debian.control(d) for d in sorted(debs, key=lambda d: d.name)))


def _install_engine(rootfs: Path, engine: Engine, phases: spent.Spent) -> None:
    inputs = engine.inputs
    if engine.pip_wheel.parent != inputs:
        raise ValueError("the wheel and pip's wheel must share a directory")
    # pip inside trusts what the host's pip trusts (a proxy's CA, say), for the build
    # only: the file stays with the inputs, outside the image.
    host_ca = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
    cert: list[str] = []
    if os.path.isfile(host_ca):
        shutil.copyfile(host_ca, inputs / "host-ca.crt")
        cert = ["--cert=/build/host-ca.crt"]
    python = f"{VENV}/bin/python"
    pip = [
        python,
        f"/build/{engine.pip_wheel.name}/pip",
        "--cache-dir=/build-cache",
        "--disable-pip-version-check",
        "--no-input",
        *cert,
    ]
    wheel = f"/build/{engine.wheel.name}"
    with phases("pip"):
        chrooted(rootfs, engine, ["/usr/bin/python3", "-m", "venv", "--without-pip", VENV])
        if engine.resolve:
            chrooted(rootfs, engine, [*pip, "download", "-q", "-d", "/build-wheels", wheel])
            # The engine's own wheel is an input, not a dependency.
            (engine.wheels / engine.wheel.name).unlink(missing_ok=True)
        offline = ["--no-index", "--find-links=/build-wheels"]
        chrooted(rootfs, engine, [*pip, "install", "--no-compile", *offline, wheel])
    # kidp reads only the strict schemas of kubernetes-validate (validate/schemas.py);
    # the package's lax copies are half its size.
    stdlib = f"/usr/lib/{python_name(rootfs)}"
    site = rootfs / VENV.lstrip("/") / f"lib/{python_name(rootfs)}/site-packages"
    with phases("lax schemas removed"):
        for lax in sorted((site / "kubernetes_validate/kubernetes-json-schema").glob("v*-local")):
            shutil.rmtree(lax)
    # Checked against nothing at import (the image never changes): no timestamp in a
    # .pyc, and no stat of each source at start.
    with phases("compileall"):
        chrooted(
            rootfs,
            engine,
            [
                python,
                "-m",
                "compileall",
                "-q",
                "-j1",
                "-f",
                "--invalidation-mode=unchecked-hash",
                stdlib,
                "/usr/lib/python3/dist-packages",
                "/" + str(site.relative_to(rootfs)),
            ],
            check=False,  # a few stdlib files are Python 2 examples; they stay uncompiled
        )
    # Every module of the controller and of `kidp validate` imports: a shared library a
    # wheel needs and the image lacks fails the build, not the pod. The engine imports
    # each controller family only when it hosts it, so each is named here.
    with phases("import check"):
        chrooted(rootfs, engine, [python, "-c", f"import {', '.join(IMPORTED)}"])


def python_name(rootfs: Path) -> str:
    """The image's Python, as its directories are named: python3.13."""
    return os.readlink(rootfs / "usr/bin/python3")


def chrooted(rootfs: Path, engine: Engine, argv: Sequence[str], *, check: bool = True) -> None:
    env = [f"{k}={os.environ[k]}" for k in _PASSED if k in os.environ]
    # No bytecode as a side effect of running (it would hold the sources' times): only
    # compileall's, hash-based, below.
    env += [f"PATH={PATH}", "HOME=/root", "LC_ALL=C.UTF-8", "PYTHONHASHSEED=0"]
    env += ["PYTHONDONTWRITEBYTECODE=1"]
    engine.pip_cache.mkdir(parents=True, exist_ok=True)
    engine.wheels.mkdir(parents=True, exist_ok=True)
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
            str(rootfs),
            str(engine.inputs),
            str(engine.pip_cache),
            str(engine.wheels),
            *env,
            *argv,
        ],
        capture_output=True,
        text=True,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{argv[0]} {argv[1]} failed in the image: {done.stderr[-3000:]}")
