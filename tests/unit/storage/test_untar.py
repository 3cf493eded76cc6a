"""The one tarball extractor: bounded in bytes and entries (skipped entries count too),
links only inside the destination and only when allowed, devices left out."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kidp_gitops.storage import untar


def tarball(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


def test_files_and_directories_are_unpacked(tmp_path: Path) -> None:
    data = tarball((entry("app", tarfile.DIRTYPE), None), (entry("app/a.yaml"), b"kind: A\n"))
    untar.extract(data, tmp_path / "out")
    assert (tmp_path / "out/app/a.yaml").read_bytes() == b"kind: A\n"


def test_expanded_bytes_are_bounded(tmp_path: Path) -> None:
    data = tarball((entry("a"), b"x" * 600), (entry("b"), b"y" * 600))
    with pytest.raises(untar.UnsafeArchive, match="more than 1000 bytes"):
        untar.extract(data, tmp_path / "out", untar.Limits(max_bytes=1000))


def test_an_entry_of_an_odd_type_counts_although_it_is_skipped(tmp_path: Path) -> None:
    """tarfile decompresses a skipped entry's data to pass it: a bomb hidden in an entry
    of an unknown type would otherwise expand unbounded."""
    data = tarball((entry("hidden", b"Z"), b"\0" * 5000), (entry("a"), b"x"))
    with pytest.raises(untar.UnsafeArchive, match="more than 1000 bytes"):
        untar.extract(data, tmp_path / "out", untar.Limits(max_bytes=1000))


def test_entries_are_bounded(tmp_path: Path) -> None:
    data = tarball(*[(entry(f"f{i}"), b"") for i in range(11)])
    with pytest.raises(untar.UnsafeArchive, match="more than 10 entries"):
        untar.extract(data, tmp_path / "out", untar.Limits(max_entries=10))


def test_links_inside_are_kept_when_allowed_and_escapes_refused(tmp_path: Path) -> None:
    inside = tarball((entry("a"), b"x"), (entry("b", tarfile.SYMTYPE, "a"), None))
    untar.extract(inside, tmp_path / "kept")
    assert (tmp_path / "kept/b").is_symlink()
    untar.extract(inside, tmp_path / "left", untar.Limits(links=False))
    assert not (tmp_path / "left/b").exists()

    escaping = tarball((entry("c", tarfile.SYMTYPE, "../../etc/passwd"), None))
    with pytest.raises(untar.UnsafeArchive, match="unsafe entry"):
        untar.extract(escaping, tmp_path / "escape")
    traversal = tarball((entry("../outside.yaml"), b"x"))
    with pytest.raises(untar.UnsafeArchive, match="unsafe entry"):
        untar.extract(traversal, tmp_path / "traversal")
    assert not (tmp_path / "outside.yaml").exists()


def test_devices_are_left_out(tmp_path: Path) -> None:
    data = tarball((entry("dev", tarfile.CHRTYPE), None), (entry("a"), b"x"))
    untar.extract(data, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a"]


def test_not_a_gzip_tarball(tmp_path: Path) -> None:
    with pytest.raises(untar.UnsafeArchive, match="not a gzip tarball"):
        untar.extract(b"plain text", tmp_path / "out")
    path = tmp_path / "file.tgz"
    path.write_bytes(tarball((entry("a"), b"x")))
    untar.extract(path, tmp_path / "from-file")
    assert (tmp_path / "from-file/a").read_bytes() == b"x"
