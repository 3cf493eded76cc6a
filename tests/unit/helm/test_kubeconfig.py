"""The kubeconfig handed to helm: the engine's credentials, private, removed after use."""

from __future__ import annotations

import stat

from kidp_gitops.helm import kubeconfig
from kidp_gitops.kube.config import ClusterConfig, TLSFiles


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
