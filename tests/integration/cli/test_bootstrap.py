"""`kidp bootstrap git` on the control plane without the session's engine (`own_cluster`,
put back after), against the real git servers (smart HTTP with basic auth, and sshd with
a key whose host key is checked): the manifests are committed and pushed, the cluster
syncs itself from them, and a second bootstrap changes nothing in Git. A host key that
does not match stops bootstrap before anything is pushed or applied."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.engine.run import Engine, EngineOptions
from kidp_gitops.kube import KubeClient, load_config
from tests.gitserver import GitHttpServer, GitRepos, SshGitServer, generate_keypair
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import kidp_on, one_line

KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/flux-system"
SECRET = "/api/v1/namespaces/flux-system/secrets/flux-system"
PATCHED = """\
# This cluster's sync settings: bootstrap keeps them.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml
  - gotk-sync.yaml
patches:
  - patch: |
      - op: add
        path: /spec/timeout
        value: 7m
    target:
      kind: Kustomization
      name: flux-system
"""


@dataclass(frozen=True)
class Remote:
    """How bootstrap reaches one git server: the URL, the credential flags of the first
    and of the second bootstrap, and the secret that must never show."""

    url: str
    first: tuple[str, ...]
    again: tuple[str, ...]
    secret: str = field(repr=False)
    host_key: str | None = None  # over SSH, the server's public host key


def http_remote(http_git: GitHttpServer, repo: str) -> Remote:
    auth = ("--username", http_git.username, "--password", http_git.password)
    return Remote(http_git.url(repo), auth, auth, http_git.password)


def ssh_remote(ssh_git: SshGitServer, repo: str, tmp_path: Path) -> Remote:
    """The first bootstrap trusts the host key it scans (as flux does, with a warning);
    the second pins it with a known_hosts file."""
    key = tmp_path / "identity"
    key.write_bytes(ssh_git.client.private_key)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(ssh_git.known_hosts)
    first = ("--private-key-file", str(key))
    again = (*first, "--ssh-known-hosts", str(known_hosts))
    secret = ssh_git.client.private_key.decode().splitlines()[1]
    return Remote(ssh_git.url(repo), first, again, secret, ssh_git.host_key.public_key)


@pytest.mark.parametrize("transport", ["http", "ssh"])
async def test_bootstrap_commits_applies_and_syncs(
    transport: str,
    request: pytest.FixtureRequest,
    own_cluster: DevCluster,
    git_repos: GitRepos,
    unique_repo: Callable[[str], str],
    tmp_path: Path,
) -> None:
    repo = unique_repo("fleet")
    if transport == "ssh":
        remote = ssh_remote(request.getfixturevalue("ssh_git"), repo, tmp_path)
    else:
        remote = http_remote(request.getfixturevalue("http_git"), repo)
        # Over HTTP the repository is not empty: it has the cluster's own
        # flux-system/kustomization.yaml with a patch, which bootstrap must keep and
        # apply (as flux bootstrap does), not overwrite.
        with git_repos.worktree(repo) as wt:
            wt.write({"clusters/dev/flux-system/kustomization.yaml": PATCHED})
            wt.commit("the cluster's own flux-system settings")
            wt.git("push", "-q", "origin", "HEAD:main")
    # The controllers run in this process (no image to pull here), so the cluster side
    # is installed first and bootstrap leaves the Deployment out.
    assert (await kidp_on(own_cluster, "install", "--without-controllers")).exit_code == 0
    engine = Engine(
        EngineOptions(
            data_dir=tmp_path / "engine",
            kubeconfig=str(own_cluster.kubeconfig),
            metrics_port=0,
            artifact_port=0,
        )
    )
    running = asyncio.create_task(engine.run())
    try:
        await engine.wait_ready(60)
        args = (
            "bootstrap", "git", "--url", remote.url, "--branch", "main",
            "--path", "clusters/dev", "--without-controllers",
        )  # fmt: skip
        first = await kidp_on(own_cluster, *args, *remote.first)
        assert first.exit_code == 0, first.output
        assert "committed and pushed" in first.output
        assert first.output.splitlines()[-1].startswith(
            "✔ bootstrap finished: the cluster follows main@sha1:"
        )
        assert remote.secret not in first.output
        if remote.host_key:
            assert "trusting the SSH host key of 127.0.0.1:" in first.output

        with git_repos.worktree(repo) as wt:
            base = wt.path / "clusters/dev/flux-system"
            assert sorted(p.name for p in base.iterdir()) == [
                "gotk-components.yaml",
                "gotk-sync.yaml",
                "kustomization.yaml",
            ]
            if transport == "http":
                assert (base / "kustomization.yaml").read_text() == PATCHED
            sync = [d for d in yaml.safe_load_all((base / "gotk-sync.yaml").read_text()) if d]
            assert [d["kind"] for d in sync] == ["GitRepository", "Kustomization"]
            assert sync[0]["spec"]["url"] == remote.url
            assert sync[1]["spec"]["path"] == "./clusters/dev"
            assert remote.secret not in (base / "gotk-sync.yaml").read_text()
            head = wt.head()

        async with KubeClient(await load_config(own_cluster.kubeconfig)) as kube:
            ks = await kube.get(KS)
            assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{head}"
            # The repository's patch is in force, from bootstrap's apply on.
            assert ks["spec"].get("timeout") == ("7m" if transport == "http" else None)
            ids = {e["id"] for e in ks["status"]["inventory"]["entries"]}
            # kidp now manages itself from Git: its CRDs and its own sync objects.
            assert (
                "_kustomizations.kustomize.toolkit.fluxcd.io_apiextensions.k8s.io_"
                "CustomResourceDefinition" in ids
            )
            assert "flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization" in ids
            if remote.host_key:
                # The source controller fetches with the key and the host key bootstrap
                # recorded, and checks the host key strictly.
                data = (await kube.get(SECRET))["data"]
                assert sorted(data) == ["identity", "known_hosts"]
                known = base64.b64decode(data["known_hosts"]).decode()
                assert remote.host_key in known

        again = await kidp_on(own_cluster, *args, *remote.again)
        assert again.exit_code == 0, again.output
        assert "✔ the component and sync manifests are up to date in Git" in again.output
        with git_repos.worktree(repo) as wt:
            assert wt.head() == head
    finally:
        engine.stop()
        await asyncio.wait_for(running, 60)


async def test_bootstrap_refuses_an_ssh_host_key_it_does_not_know(
    kidp: Kidp,
    ssh_git: SshGitServer,
    git_repos: GitRepos,
    unique_repo: Callable[[str], str],
    namespace: str,
    tmp_path: Path,
) -> None:
    repo = unique_repo("fleet")
    key = tmp_path / "identity"
    key.write_bytes(ssh_git.client.private_key)
    impostor = tmp_path / "known_hosts"
    impostor.write_text(f"[127.0.0.1]:{ssh_git.port} {generate_keypair().public_key}\n")
    refused = await kidp(
        "bootstrap", "git", "--url", ssh_git.url(repo), "--path", "clusters/dev",
        "--private-key-file", str(key), "--ssh-known-hosts", str(impostor), "-n", namespace,
    )  # fmt: skip
    assert refused.exit_code == 1
    assert refused.output.splitlines()[-1].startswith(
        f"✗ host key verification failed for 127.0.0.1:{ssh_git.port}: the key the server"
    )
    with git_repos.worktree(repo) as wt:
        assert not (wt.path / "clusters").exists()  # nothing was pushed

    absent = tmp_path / "absent"
    unread = await kidp(
        "bootstrap", "git", "--url", ssh_git.url(repo), "--path", "x",
        "--private-key-file", str(key), "--ssh-known-hosts", str(absent),
    )  # fmt: skip
    assert unread.exit_code == 1
    assert one_line(unread) == f"✗ --ssh-known-hosts {absent}: No such file or directory"

    no_key = await kidp("bootstrap", "git", "--url", ssh_git.url(repo), "--path", "x")
    assert no_key.exit_code == 1
    assert one_line(no_key) == "✗ an ssh:// URL needs --private-key-file"
