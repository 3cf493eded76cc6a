from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from kidp_gitops.oci import artifact
from kidp_gitops.oci.client import OCI_MANIFEST, Manifest
from kidp_gitops.oci.errors import OCIError
from kidp_gitops.storage import untar


def _tree(root: Path) -> Path:
    (root / "apps" / "base").mkdir(parents=True)
    (root / "apps" / "base" / "cm.yaml").write_text("kind: ConfigMap\n")
    (root / "logo.png").write_bytes(b"\x89PNG")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "link.yaml").symlink_to("/etc/passwd")
    return root


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [m.name for m in tar.getmembers() if m.isfile()]


def test_pack_leaves_out_flux_default_ignores_and_symlinks(tmp_path: Path) -> None:
    layer = artifact.pack(_tree(tmp_path / "src"))
    assert _names(layer.data) == ["apps/base/cm.yaml"]
    assert layer.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(layer.data)).hexdigest()


def test_pack_with_ignore_paths_replaces_the_defaults(tmp_path: Path) -> None:
    layer = artifact.pack(_tree(tmp_path / "src"), ["apps/", ".git/"])
    assert _names(layer.data) == ["logo.png"]


def test_the_same_tree_packs_to_the_same_bytes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src")
    assert artifact.pack(root).data == artifact.pack(root).data


def test_the_manifest_has_flux_media_types_and_annotations(tmp_path: Path) -> None:
    layer = artifact.pack(_tree(tmp_path / "src"))
    config, data = artifact.image(
        layer,
        "sha256:" + "b" * 64,
        source="https://github.com/org/repo",
        revision="main@sha1:abc",
        annotations={"team": "a"},
        created="2026-01-01T00:00:00Z",
    )
    manifest = json.loads(data)
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.flux.config.v1+json"
    assert manifest["config"]["digest"] == "sha256:" + hashlib.sha256(config).hexdigest()
    assert manifest["layers"][0]["mediaType"] == "application/vnd.cncf.flux.content.v1.tar+gzip"
    assert manifest["annotations"] == {
        "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
        "org.opencontainers.image.source": "https://github.com/org/repo",
        "org.opencontainers.image.revision": "main@sha1:abc",
        "team": "a",
    }


def _manifest(*types: str) -> Manifest:
    layers = [{"mediaType": t, "digest": f"sha256:{i}", "size": 1} for i, t in enumerate(types)]
    body = {"mediaType": OCI_MANIFEST, "layers": layers}
    return Manifest(json.dumps(body).encode(), OCI_MANIFEST, "sha256:m", body)


def test_the_first_layer_is_selected_unless_a_media_type_is_asked_for() -> None:
    manifest = _manifest("application/x-a", "application/x-b", "application/x-b")
    assert artifact.select_layer(manifest, None)["digest"] == "sha256:0"
    assert artifact.select_layer(manifest, "application/x-b")["digest"] == "sha256:1"
    with pytest.raises(OCIError, match="application/x-c"):
        artifact.select_layer(manifest, "application/x-c")


@pytest.mark.parametrize("served_as", ["", "application/octet-stream"])
def test_an_image_manifest_without_a_media_type_is_known_by_its_shape(served_as: str) -> None:
    layers = [{"mediaType": "application/x-a", "digest": "sha256:0", "size": 1}]
    body = {"schemaVersion": 2, "config": {}, "layers": layers}
    untyped = Manifest(json.dumps(body).encode(), served_as, "sha256:m", body)
    assert artifact.select_layer(untyped, None)["digest"] == "sha256:0"
    index = {"schemaVersion": 2, "manifests": [], "layers": layers}
    with pytest.raises(OCIError, match="not an image manifest"):
        artifact.select_layer(
            Manifest(json.dumps(index).encode(), served_as, "sha256:i", index), None
        )


def _tarball(path: Path, members: list[tarfile.TarInfo], data: bytes = b"") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def test_extract_refuses_entries_that_leave_the_destination(tmp_path: Path) -> None:
    info = tarfile.TarInfo("../escape.yaml")
    info.size = 2
    blob = _tarball(tmp_path / "l.tar.gz", [info], b"x\n")
    with pytest.raises(OCIError, match="unsafe"):
        artifact.extract(blob, tmp_path / "out")
    assert not (tmp_path / "escape.yaml").exists()


def test_extract_leaves_links_out(tmp_path: Path) -> None:
    link = tarfile.TarInfo("passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    ok = tarfile.TarInfo("ok.yaml")
    ok.size = 2
    blob = _tarball(tmp_path / "l.tar.gz", [link, ok], b"x\n")
    artifact.extract(blob, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok.yaml"]


def test_extract_stops_at_the_expanded_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifact, "LAYER_LIMITS", untar.Limits(max_bytes=10, links=False))
    big = tarfile.TarInfo("big.yaml")
    big.size = 11
    blob = _tarball(tmp_path / "l.tar.gz", [big], b"x" * 11)
    with pytest.raises(OCIError, match="expands"):
        artifact.extract(blob, tmp_path / "out")


def test_extract_refuses_what_is_not_a_gzip_tarball(tmp_path: Path) -> None:
    blob = tmp_path / "l.tar.gz"
    blob.write_bytes(b"not a tarball")
    with pytest.raises(OCIError, match="not a gzip tarball"):
        artifact.extract(blob, tmp_path / "out")
