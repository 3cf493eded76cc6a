"""The image's root filesystem, assembled in a directory: the system part of the base layer.

    assemble(rootfs, debs, programs, phases)

Debian's packages extracted (`debian`), the users and the CA bundle their maintainer
scripts would have made, helm and the engine's Helm helper, the mount points a runtime
fills. The engine's venv at VENV is made in this tree afterwards (`venv`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
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


def skip(name: str) -> bool:
    return any(name.startswith(p) or name + "/" == p for p in debian.SKIP)


def assemble(
    rootfs: Path,
    debs: Sequence[debian.Deb],
    programs: Sequence[Path],
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
