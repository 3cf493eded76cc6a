"""`make image`'s pure parts: the dependency choice of apt's output, merged /usr, a layer
that depends on the tree's content only, the app layer's names over the base layer's
tree, and an image layout of two layers."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hack.image import debian, layout, spent, venv

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


def test_a_layers_plain_copy_is_the_tar_its_blob_compresses(tmp_path: Path) -> None:
    root = tree(tmp_path / "tree", ["usr/bin/run.sh", "etc/passwd", "bin"], 1_000_000)
    plain = tmp_path / "layer.tar"
    with_copy = layout.layer(root, tmp_path / "a.tar.gz", [], ["tmp"], plain=plain)
    without = layout.layer(root, tmp_path / "b.tar.gz", [], ["tmp"])
    assert (with_copy.digest, with_copy.diff_id) == (without.digest, without.diff_id)
    assert plain.read_bytes() == gzip.decompress(with_copy.path.read_bytes())
    assert with_copy.diff_id == f"sha256:{hashlib.sha256(plain.read_bytes()).hexdigest()}"


def test_a_layer_of_some_names_holds_them_and_the_directories_above(tmp_path: Path) -> None:
    names = ["usr/bin/python3", "opt/kidp/bin/kidp", "opt/kidp/lib/site/kidp/__init__.py"]
    root = tree(tmp_path / "tree", names, 1_000_000)
    added = ["opt/kidp/bin/kidp", "opt/kidp/lib/site/kidp", "opt/kidp/lib/site/kidp/__init__.py"]
    app = layout.layer(root, tmp_path / "app.tar.gz", ["data"], ["tmp"], added)
    full = layout.layer(root, tmp_path / "full.tar.gz", ["data"], ["tmp"])
    with tarfile.open(app.path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    with tarfile.open(full.path) as tar:
        everything = {m.name: m for m in tar.getmembers()}
    parents = ["opt", "opt/kidp", "opt/kidp/bin", "opt/kidp/lib", "opt/kidp/lib/site"]
    assert list(members) == sorted([*parents, *added])
    # Each entry as the whole tree's layer has it: unpacked over the base layer, the
    # directories above the new files stay what they were.
    for name, member in members.items():
        theirs = everything[name]
        assert (member.type, member.mode, member.uid, member.mtime) == (
            theirs.type,
            theirs.mode,
            theirs.uid,
            theirs.mtime,
        )
    files = ["opt/kidp/bin/kidp", "opt/kidp/lib/site/kidp/__init__.py"]
    assert app.unpacked == sum(len(f"content of {n}") for n in files)


def test_the_app_layer_only_adds_to_the_base_layers_tree(tmp_path: Path) -> None:
    root = tree(tmp_path, ["usr/bin/python3", "opt/kidp/lib/site/"], 1_000_000)
    before = venv.snapshot(root)
    (root / "opt/kidp/lib/site/kidp").mkdir()
    (root / "opt/kidp/lib/site/kidp/__init__.py").write_text("")
    (root / "opt/kidp/bin").mkdir()
    (root / "opt/kidp/bin/kidp").symlink_to("../lib/site/kidp/__init__.py")
    assert venv.added(before, venv.snapshot(root)) == [
        "opt/kidp/bin",
        "opt/kidp/bin/kidp",
        "opt/kidp/lib/site/kidp",
        "opt/kidp/lib/site/kidp/__init__.py",
    ]
    # A changed or removed file of the base layer would need a copy or a whiteout.
    (root / "usr/bin/python3").write_text("another python")
    with pytest.raises(RuntimeError, match="usr/bin/python3"):
        venv.added(before, venv.snapshot(root))
    (root / "usr/bin/python3").unlink()
    with pytest.raises(RuntimeError, match="usr/bin/python3"):
        venv.added(before, venv.snapshot(root))


def test_an_image_layout_lists_its_layers_lowest_first(tmp_path: Path) -> None:
    base = layout.layer(tree(tmp_path / "base", ["etc/passwd"], 0), tmp_path / "b", [], [])
    app = layout.layer(tree(tmp_path / "app", ["opt/kidp"], 0), tmp_path / "a", [], [])
    image = layout.Image(
        user="65532:65532",
        entrypoint=["/opt/kidp/bin/kidp"],
        env=[],
        working_dir="/data",
        annotations={},
        created="2026-12-07T00:00:00Z",
        history=("the base", "the engine"),
    )
    out = tmp_path / "layout"
    digest = layout.write(out, [base, app], image, "v0.1.0")

    def blob(digest: str) -> bytes:
        return (out / "blobs/sha256" / digest.removeprefix("sha256:")).read_bytes()

    manifest = json.loads(blob(digest))
    config = json.loads(blob(manifest["config"]["digest"]))
    assert [(e["digest"], e["size"]) for e in manifest["layers"]] == [
        (base.digest, base.size),
        (app.digest, app.size),
    ]
    assert config["rootfs"]["diff_ids"] == [base.diff_id, app.diff_id]
    assert [h["created_by"] for h in config["history"]] == [
        "make image (hack/image): the base",
        "make image (hack/image): the engine",
    ]
    assert hashlib.sha256(blob(app.digest)).hexdigest() == app.digest.removeprefix("sha256:")
    with pytest.raises(ValueError, match="history"):
        layout.write(tmp_path / "other", [base], image, "v0.1.0")


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
