"""`make image`'s pure parts: the dependency choice of apt's output, merged /usr, and a
layer that depends on the tree's content only."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from hack.image import debian, layout, spent

APT_CACHE_DEPENDS = """\
ca-certificates
  Depends: openssl
 |Depends: debconf
  Depends: <debconf-2.0>
    cdebconf
    debconf
base-files
 |PreDepends: mawk
  PreDepends: <awk>
    gawk
    original-awk
git
  Depends: libc6
  Depends: perl
  Depends: python3:any
  Recommends: less
"""


def test_the_first_alternative_is_chosen_and_cut_packages_are_left_out() -> None:
    cut = {"debconf", "cdebconf", "perl", "mawk", "gawk"}
    chosen = list(debian._first_choices(APT_CACHE_DEPENDS, cut))
    # debconf | debconf-2.0: both cut → nothing; mawk | awk: mawk cut → the dependency
    # is cut with it (no other awk sneaks in); perl cut; recommends ignored.
    assert chosen == ["openssl", "libc6", "python3"]


def test_a_virtual_package_goes_to_its_first_provider_not_cut() -> None:
    output = "x\n  Depends: <awk>\n    gawk\n    original-awk\n"
    assert list(debian._first_choices(output, {"gawk"})) == ["original-awk"]


def test_usr_is_merged() -> None:
    assert debian.merged("bin/sh") == "usr/bin/sh"
    assert debian.merged("lib64/ld-linux-x86-64.so.2") == "usr/lib64/ld-linux-x86-64.so.2"
    assert debian.merged("sbin") == "usr/sbin"
    assert debian.merged("etc/passwd") == "etc/passwd"
    assert debian.merged("usr/bin/git") == "usr/bin/git"


def tree(root: Path, order: list[str], mtime: int) -> Path:
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        elif name == "bin":
            path.symlink_to("usr/bin")
        else:
            path.write_text(f"content of {name}")
            if name.endswith(".sh"):
                path.chmod(0o700)
        if not path.is_symlink():
            os.utime(path, (mtime, mtime))
    return root


def test_a_layer_depends_on_the_content_only(tmp_path: Path) -> None:
    names = ["usr/bin/run.sh", "etc/passwd", "bin", "tmp/", "data/", "usr/lib/a.py"]
    first = tree(tmp_path / "one", names, 1_000_000)
    second = tree(tmp_path / "two", list(reversed(names)), 2_000_000)
    a = layout.layer(first, tmp_path / "a.tar.gz", ["data"], ["tmp"])
    b = layout.layer(second, tmp_path / "b.tar.gz", ["data"], ["tmp"])
    assert (a.digest, a.diff_id) == (b.digest, b.diff_id)
    # The blob's digest and size, and the diff_id of what it unpacks to, as a registry and
    # a runtime compute them.
    blob = a.path.read_bytes()
    assert a.digest == f"sha256:{hashlib.sha256(blob).hexdigest()}"
    assert a.size == len(blob)
    assert a.diff_id == f"sha256:{hashlib.sha256(gzip.decompress(blob)).hexdigest()}"

    with tarfile.open(a.path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    by_name = {m.name: m for m in members}
    assert all(m.mtime == 0 and m.uname == "" and m.gname == "" for m in members)
    assert (by_name["data"].uid, by_name["data"].gid) == (65532, 65532)
    assert by_name["etc"].uid == 0
    assert by_name["tmp"].mode == 0o1777
    assert by_name["usr/bin/run.sh"].mode == 0o755
    assert by_name["etc/passwd"].mode == 0o644
    assert by_name["bin"].issym()
    assert by_name["bin"].linkname == "usr/bin"


def test_a_second_build_takes_the_debs_the_first_used_or_none(tmp_path: Path) -> None:
    apt = debian.Apt(tmp_path)
    apt.archives.mkdir()
    deb = apt.archives / "libgpg-error0_1.51-4_amd64.deb"
    deb.write_bytes(b"a package")
    epoch = apt.archives / "libcap2_1%3a2.75-10_amd64.deb"
    epoch.write_bytes(b"another")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (deb, epoch)}
    kept = apt.kept(files)
    assert kept is not None
    assert [(d.name, d.version, d.path) for d in kept] == [
        ("libcap2", "1:2.75-10", epoch),
        ("libgpg-error0", "1.51-4", deb),
    ]
    deb.write_bytes(b"not the package it was")
    assert apt.kept(files) is None
    deb.unlink()
    assert apt.kept(files) is None


def test_a_phase_counts_the_cpu_of_the_programs_it_ran() -> None:
    phases = spent.Spent()
    with phases("busy child"):
        subprocess.run([sys.executable, "-c", "sum(range(3_000_000))"], check=True)
    with phases("busy child"):  # a phase entered twice adds up
        pass
    (recorded,) = phases.phases.values()
    assert recorded["children"] > 0
    assert recorded["wall"] > 0
    assert "busy child" in phases.summary()
