"""Artifacts: deterministic content digests, retention, and an HTTP server that serves
only artifacts."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from kidp_gitops.source.ignore import IgnoreRules
from kidp_gitops.storage.artifacts import ArtifactStore


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def kept(root: Path) -> list[str]:
    return list(IgnoreRules(root, None).files(root))


def test_same_tree_same_digest_and_retention(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", "http://example:9090")
    t1 = tree(tmp_path / "one", {"a.yaml": "1"})
    first = store.archive("GitRepository", "ns", "repo", t1, kept(t1), "main@sha1:aaa")
    again = store.archive("GitRepository", "ns", "repo", t1, kept(t1), "main@sha1:aaa")
    assert again.digest == first.digest
    file = store.local_path(first.path)
    assert file is not None
    assert first.digest == "sha256:" + hashlib.sha256(file.read_bytes()).hexdigest()
    assert first.url == f"http://example:9090/{first.path}"
    assert first.path == f"gitrepository/ns/repo/{first.digest[7:]}.tar.gz"

    digests = [first.digest]
    for i in range(2, 5):
        t = tree(tmp_path / f"t{i}", {"a.yaml": str(i)})
        digests.append(store.archive("GitRepository", "ns", "repo", t, kept(t), f"r{i}").digest)
    left = sorted(p.name for p in store.object_dir("GitRepository", "ns", "repo").iterdir())
    assert left == sorted(f"{d[7:]}.tar.gz" for d in digests[-2:])


def test_extract_round_trips(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", "http://x")
    src = tree(tmp_path / "src", {"apps/a.yaml": "kind: A\n", "run.sh": "#!/bin/sh\n"})
    (src / "run.sh").chmod(0o755)
    art = store.archive("GitRepository", "ns", "r", src, kept(src), "rev")
    store.extract(art.path, tmp_path / "out")
    assert (tmp_path / "out/apps/a.yaml").read_text() == "kind: A\n"
    assert (tmp_path / "out/run.sh").stat().st_mode & 0o111
    with tarfile.open(store.local_path(art.path), "r:gz") as tar:
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())


async def test_http_serves_artifacts_and_nothing_else(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", "http://x")
    (tmp_path / "secret.tar.gz").write_text("outside the store")
    src = tree(tmp_path / "s", {"a": "1"})
    art = store.archive("GitRepository", "ns", "r", src, kept(src), "r")
    (store.root / "gitrepository/ns/r/link.tar.gz").symlink_to(tmp_path / "secret.tar.gz")
    runner = web.AppRunner(store.http_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/{art.path}") as r:
                assert r.status == 200
                body = await r.read()
            assert "sha256:" + hashlib.sha256(body).hexdigest() == art.digest
            for bad in (
                "../secret.tar.gz",
                "%2e%2e/secret.tar.gz",
                "gitrepository/ns/r/link.tar.gz",
                "gitrepository/ns/r",
                "gitrepository/ns/r/../../../../secret.tar.gz",
            ):
                async with http.get(f"http://127.0.0.1:{port}/{bad}") as r:
                    assert r.status == 404, bad
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("escape", ["../../etc/passwd", "/etc/passwd"])
def test_local_path_refuses_escapes(tmp_path: Path, escape: str) -> None:
    store = ArtifactStore(tmp_path / "store", "http://x")
    (tmp_path / "store").mkdir()
    assert store.local_path(escape) is None
