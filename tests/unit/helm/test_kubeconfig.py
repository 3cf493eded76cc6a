"""The kubeconfig handed to helm: the engine's credentials, private, removed after use."""

from __future__ import annotations

import base64
import stat

import yaml

from kidp_gitops.helm import kubeconfig
from kidp_gitops.kube.config import ClusterConfig, InlineTLS, TLSFiles


async def test_token_and_tls_files_are_written_privately_and_removed() -> None:
    async def header() -> str | None:
        return "Bearer s3cr3t"

    config = ClusterConfig(
        "https://127.0.0.1:6443", False, header, TLSFiles("/ca.crt", "/c.crt", "/c.key")
    )
    async with kubeconfig.written(config) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        text = path.read_text()
        assert "s3cr3t" in text
        assert "certificate-authority: /ca.crt" in text
        assert "client-key: /c.key" in text
    assert not path.exists()
    assert not path.parent.exists()


async def test_a_remote_clusters_tls_material_is_written_as_data() -> None:
    """A remote's kubeconfig came from a Secret: helm gets its material as data, in the
    same private file, and no path of the engine's."""

    async def header() -> str | None:
        return "Basic " + base64.b64encode(b"admin:pa55word").decode()

    inline = InlineTLS(ca=b"CA PEM", cert=b"CERT PEM", key=b"KEY PEM")
    config = ClusterConfig("https://10.0.0.1:6443", False, header, inline=inline)
    async with kubeconfig.written(config) as path:
        doc = yaml.safe_load(path.read_text())
    cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA PEM"
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT PEM"
    assert base64.b64decode(user["client-key-data"]) == b"KEY PEM"
    assert (user["username"], user["password"]) == ("admin", "pa55word")
    assert "certificate-authority" not in cluster
    assert "client-key" not in user
    assert not path.exists()
