"""GitRepository against real git servers (sshd, smart HTTP) and the real control plane:
every ref kind, pushes picked up on request, failures with reasons that keep the last
artifact, ignore rules, includes, submodules and sparse checkouts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos, SshGitServer, generate_keypair
from tests.integration.notification.helpers import events_once
from tests.integration.source.helpers import (
    artifact_files,
    condition,
    create_repo,
    create_secret,
    path,
    request_reconcile,
    wait_condition,
    wait_revision,
)
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")


def seed(git_repos: GitRepos, name: str) -> dict[str, str]:
    """main with two commits, a tag v1.0.0 and v1.2.0 (annotated), a branch 'feature'."""
    shas: dict[str, str] = {}
    with git_repos.worktree(name) as wt:
        wt.write({"apps/app.yaml": "kind: ConfigMap\n", "README.md": "hello\n"})
        shas["first"] = wt.commit("first")
        wt.tag("v1.0.0")
        wt.write({"apps/app.yaml": "kind: ConfigMap\nversion: 2\n"})
        shas["second"] = wt.commit("second")
        wt.tag("v1.2.0", annotated=True)
        wt.push()
        wt.checkout("feature")
        wt.write({"feature.yaml": "x: 1\n"})
        shas["feature"] = wt.commit("feature work")
        wt.push("feature")
    return shas


@pytest.mark.parametrize(
    ("ref", "expect"),
    [
        (None, "main@sha1:{second}"),
        ({"branch": "feature"}, "feature@sha1:{feature}"),
        ({"tag": "v1.0.0"}, "v1.0.0@sha1:{first}"),
        ({"semver": ">=1.1.0 <2.0.0"}, "v1.2.0@sha1:{second}"),
        ({"name": "refs/heads/feature"}, "refs/heads/feature@sha1:{feature}"),
        ({"commit": "{first}"}, "sha1:{first}"),
    ],
)
async def test_every_ref_kind_over_http(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    ref: dict[str, str] | None,
    expect: str,
) -> None:
    name = unique_repo("refs")
    shas = seed(git_repos, name)
    await create_secret(
        kube, namespace, "creds", {"username": http_git.username, "password": http_git.password}
    )
    spec: dict[str, object] = {
        "interval": "10m",
        "url": http_git.url(name),
        "secretRef": {"name": "creds"},
    }
    if ref is not None:
        spec["ref"] = {k: v.format(**shas) for k, v in ref.items()}
    await create_repo(kube, namespace, "repo", spec)
    obj = await wait_condition(kube, namespace, "repo", "True", "Succeeded")
    artifact = obj["status"]["artifact"]
    assert artifact["revision"] == expect.format(**shas)
    assert artifact["digest"].startswith("sha256:")
    assert artifact["size"] > 0
    assert f"stored artifact for revision '{artifact['revision']}'" in condition(obj)["message"]
    files = await artifact_files(obj)
    assert "apps/app.yaml" in files


async def test_a_push_is_applied_at_once_on_request_over_ssh(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    ssh_git: SshGitServer,
    unique_repo: Callable[[str], str],
) -> None:
    name = unique_repo("push")
    shas = seed(git_repos, name)
    await create_secret(
        kube,
        namespace,
        "ssh",
        {"identity": ssh_git.client.private_key, "known_hosts": ssh_git.known_hosts},
    )
    await create_repo(
        kube,
        namespace,
        "repo",
        {
            "interval": "1h",
            "url": ssh_git.url(name),
            "ref": {"branch": "main"},
            "secretRef": {"name": "ssh"},
        },
    )
    await wait_revision(kube, namespace, "repo", shas["second"])
    with git_repos.worktree(name, "main") as wt:
        wt.write({"apps/new.yaml": "kind: Secret\n"})
        wt.delete("README.md")
        new = wt.commit("third")
        wt.push()
    began = time.monotonic()
    await request_reconcile(kube, namespace, "repo")
    obj = await wait_revision(kube, namespace, "repo", new, timeout=15)
    assert time.monotonic() - began < 15
    files = await artifact_files(obj)
    assert "apps/new.yaml" in files
    assert "README.md" not in files
    events = await events_once(kube, namespace, "GitRepository", "repo", reason="NewArtifact")
    reasons = [e["reason"] for e in events]
    assert "NewArtifact" in reasons


async def test_failures_keep_the_last_artifact_and_say_why(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    ssh_git: SshGitServer,
    unique_repo: Callable[[str], str],
) -> None:
    name = unique_repo("fail")
    seed(git_repos, name)
    await create_secret(
        kube, namespace, "creds", {"username": http_git.username, "password": http_git.password}
    )
    await create_repo(
        kube,
        namespace,
        "repo",
        {"interval": "1h", "url": http_git.url(name), "secretRef": {"name": "creds"}},
    )
    good = await wait_condition(kube, namespace, "repo", "True")
    artifact = good["status"]["artifact"]

    # Wrong password: AuthenticationFailed; the artifact stays for consumers.
    await create_secret(
        kube, namespace, "creds", {"username": http_git.username, "password": "not-the-password"}
    )
    await request_reconcile(kube, namespace, "repo")
    bad = await wait_condition(kube, namespace, "repo", "False", "AuthenticationFailed")
    assert bad["status"]["artifact"] == artifact
    assert "not-the-password" not in str(bad["status"])
    assert condition(bad, "Reconciling")  # it will retry

    # Missing branch: the message names it.
    await create_secret(
        kube, namespace, "creds", {"username": http_git.username, "password": http_git.password}
    )
    await kube.patch(path(namespace, "repo"), {"spec": {"ref": {"branch": "nope"}}})
    missing = await wait_condition(kube, namespace, "repo", "False", "GitOperationFailed")
    assert "nope" in condition(missing)["message"]
    assert missing["status"]["artifact"] == artifact


@pytest.mark.parametrize(
    "case", ["wrong host key", "wrong key", "unreachable", "scp url", "missing secret"]
)
async def test_each_failure_has_a_reason_a_person_can_act_on(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    ssh_git: SshGitServer,
    unique_repo: Callable[[str], str],
    case: str,
) -> None:
    name = unique_repo("err")
    seed(git_repos, name)
    other = generate_keypair()
    identity, known_hosts = ssh_git.client.private_key, ssh_git.known_hosts
    url = ssh_git.url(name)
    expect_reason, expect_words, expect_stalled = "AuthenticationFailed", "host key", False
    if case == "wrong host key":
        known_hosts = f"[127.0.0.1]:{ssh_git.port} {other.public_key}\n"
    elif case == "wrong key":
        identity, expect_words = other.private_key, "key"
    elif case == "unreachable":
        url = f"ssh://git@127.0.0.1:1/{name}.git"
        expect_reason, expect_words = "GitOperationFailed", "127.0.0.1"
    elif case == "scp url":
        url = f"git@127.0.0.1:{name}.git"
        expect_reason, expect_words, expect_stalled = "URLInvalid", "ssh://", True
    elif case == "missing secret":
        expect_words = "not found"
    if case != "missing secret":
        await create_secret(
            kube, namespace, "ssh", {"identity": identity, "known_hosts": known_hosts}
        )
    spec = {"interval": "1h", "url": url, "secretRef": {"name": "ssh"}}
    if case == "scp url":
        # The CRD's pattern already refuses it at the API server, as Flux's does.
        with pytest.raises(ApiError, match=r"spec\.url"):
            await create_repo(kube, namespace, "repo", spec)
        return
    await create_repo(kube, namespace, "repo", spec)
    obj = await wait_condition(kube, namespace, "repo", "False", expect_reason, timeout=40)
    ready = condition(obj)
    assert expect_words in ready["message"], ready["message"]
    assert bool(condition(obj, "Stalled")) == expect_stalled
    assert "BEGIN OPENSSH PRIVATE KEY" not in str(obj)


async def test_timeout_is_reported(kube: KubeClient, namespace: str) -> None:
    import socket

    # A listener that accepts and never answers: git waits until spec.timeout.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        port = silent.getsockname()[1]
        await create_repo(
            kube,
            namespace,
            "repo",
            {"interval": "1h", "timeout": "2s", "url": f"http://127.0.0.1:{port}/repo.git"},
        )
        obj = await wait_condition(kube, namespace, "repo", "False", timeout=30)
        assert "timed out" in condition(obj)["message"] or "timeout" in condition(obj)["message"]
    finally:
        silent.close()


async def test_ignore_rules_and_sourceignore(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    name = unique_repo("ignore")
    with git_repos.worktree(name) as wt:
        wt.write(
            {
                "deploy/app.yaml": "a",
                "deploy/logo.png": b"\x89PNG",
                "docs/x.md": "d",
                ".github/workflows/ci.yaml": "c",
                "deploy/.sourceignore": "*.txt\n",
                "deploy/notes.txt": "n",
            }
        )
        wt.commit("files")
        wt.push()
    await create_secret(
        kube, namespace, "creds", {"username": http_git.username, "password": http_git.password}
    )
    await create_repo(
        kube, namespace, "defaults", {"url": http_git.url(name), "secretRef": {"name": "creds"}}
    )
    await create_repo(
        kube,
        namespace,
        "custom",
        {"url": http_git.url(name), "secretRef": {"name": "creds"}, "ignore": "/docs/\n"},
    )
    defaults = await artifact_files(await wait_condition(kube, namespace, "defaults", "True"))
    assert set(defaults) == {"deploy/app.yaml", "deploy/.sourceignore", "docs/x.md"}
    custom = await artifact_files(await wait_condition(kube, namespace, "custom", "True"))
    # spec.ignore replaces the default exclusions; .sourceignore still applies.
    assert set(custom) == {
        "deploy/app.yaml",
        "deploy/logo.png",
        "deploy/.sourceignore",
        ".github/workflows/ci.yaml",
    }
    obj = await kube.get(path(namespace, "custom"))
    assert obj["status"]["observedIgnore"] == "/docs/\n"


async def test_include_sparse_checkout_and_submodules(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    shared = unique_repo("shared")
    with git_repos.worktree(shared) as wt:
        wt.write({"base/common.yaml": "v: 1\n"})
        wt.commit("shared")
        wt.push()
    app = unique_repo("app")
    with git_repos.worktree(app) as wt:
        wt.write({"apps/a.yaml": "a", "infra/i.yaml": "i"})
        wt.commit("app")
        wt.add_submodule(
            http_git.url(shared).replace("://", f"://{http_git.username}:{http_git.password}@"),
            "vendor/shared",
        )
        wt.commit("submodule")
        wt.push()
    await create_secret(
        kube, namespace, "creds", {"username": http_git.username, "password": http_git.password}
    )
    creds = {"secretRef": {"name": "creds"}}
    await create_repo(kube, namespace, "shared", {"url": http_git.url(shared), **creds})
    await create_repo(
        kube,
        namespace,
        "app",
        {
            "url": http_git.url(app),
            **creds,
            "recurseSubmodules": True,
            "include": [
                {"repository": {"name": "shared"}, "fromPath": "base", "toPath": "included"}
            ],
        },
    )
    await create_repo(
        kube, namespace, "sparse", {"url": http_git.url(app), **creds, "sparseCheckout": ["apps"]}
    )
    files = await artifact_files(await wait_condition(kube, namespace, "app", "True"))
    assert {
        "apps/a.yaml",
        "infra/i.yaml",
        "included/common.yaml",
        "vendor/shared/base/common.yaml",
    } <= set(files)
    sparse = await artifact_files(await wait_condition(kube, namespace, "sparse", "True"))
    assert set(sparse) == {"apps/a.yaml"}

    # A new artifact of the included repository rebuilds the including one.
    with git_repos.worktree(shared) as wt:
        wt.write({"base/common.yaml": "v: 2\n"})
        wt.commit("bump")
        wt.push()
    await request_reconcile(kube, namespace, "shared")

    async def updated() -> bool:
        obj = await kube.get(path(namespace, "app"))
        return (await artifact_files(obj)).get("included/common.yaml") == b"v: 2\n"

    await until(updated, 30, "the including repository to pick up the new include")


async def test_unchanged_remote_writes_nothing(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    engine: Engine,
) -> None:
    name = unique_repo("idle")
    seed(git_repos, name)
    await create_secret(
        kube, namespace, "creds", {"username": http_git.username, "password": http_git.password}
    )
    await create_repo(
        kube, namespace, "repo", {"url": http_git.url(name), "secretRef": {"name": "creds"}}
    )
    obj = await wait_condition(kube, namespace, "repo", "True")
    mirrors = engine.options.data_dir / "git"
    before = _snapshot(mirrors)
    rv = obj["metadata"]["resourceVersion"]
    for _ in range(3):
        await request_reconcile(kube, namespace, "repo")
    # Each request is one annotation write by us and then one reconcile with no fetch.
    await until(lambda: _handled(kube, namespace), 15, "the last request to be handled")
    after = await kube.get(path(namespace, "repo"))
    assert _snapshot(mirrors) == before, "nothing downloaded into the mirror when unchanged"
    assert after["status"]["artifact"] == obj["status"]["artifact"]
    assert rv != after["metadata"]["resourceVersion"]  # only lastHandledReconcileAt moved
    # The typed status round trip adds nothing and rewrites nothing (no transition time).
    handled = "lastHandledReconcileAt"
    assert {k: v for k, v in after["status"].items() if k != handled} == {
        k: v for k, v in obj["status"].items() if k != handled
    }


async def _handled(kube: KubeClient, namespace: str) -> bool:
    obj = await kube.get(path(namespace, "repo"))
    requested = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    return bool(obj["status"].get("lastHandledReconcileAt") == requested)


def _snapshot(root: Path) -> dict[str, int]:
    """Every object and pack file of the git mirrors, with its size."""
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("objects/**/*")
        if p.is_file()
    }


async def test_https_trusts_the_ca_of_the_secret(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    https_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    name = unique_repo("tls")
    seed(git_repos, name)
    assert https_git.certificate is not None
    creds = {"username": https_git.username, "password": https_git.password}
    await create_secret(kube, namespace, "with-ca", {**creds, "ca.crt": https_git.certificate.cert})
    await create_secret(kube, namespace, "without-ca", creds)
    await create_repo(
        kube, namespace, "trusted", {"url": https_git.url(name), "secretRef": {"name": "with-ca"}}
    )
    await create_repo(
        kube,
        namespace,
        "untrusted",
        {"url": https_git.url(name), "secretRef": {"name": "without-ca"}},
    )
    await wait_condition(kube, namespace, "trusted", "True")
    refused = await wait_condition(kube, namespace, "untrusted", "False")
    assert "certificate" in condition(refused)["message"]


async def test_https_presents_the_client_certificate_of_the_secret(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    mtls_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    """Flux's HTTPS mutual TLS: `tls.crt` and `tls.key` in secretRef, the CA as `ca.crt`
    or, deprecated, `caFile`; a certificate without its key is an authentication failure
    that names the missing key."""
    name = unique_repo("mtls")
    shas = seed(git_repos, name)
    assert mtls_git.certificate is not None
    assert mtls_git.client_certificate is not None
    pair = mtls_git.client_certificate
    creds = {"username": mtls_git.username, "password": mtls_git.password}
    await create_secret(
        kube,
        namespace,
        "client-cert",
        {**creds, "caFile": mtls_git.certificate.cert, "tls.crt": pair.cert, "tls.key": pair.key},
    )
    await create_secret(
        kube,
        namespace,
        "no-key",
        {**creds, "ca.crt": mtls_git.certificate.cert, "tls.crt": pair.cert},
    )
    url = mtls_git.url(name)
    await create_repo(kube, namespace, "mtls", {"url": url, "secretRef": {"name": "client-cert"}})
    await create_repo(kube, namespace, "no-key", {"url": url, "secretRef": {"name": "no-key"}})
    ready = await wait_condition(kube, namespace, "mtls", "True")
    assert ready["status"]["artifact"]["revision"].endswith(f"@sha1:{shas['second']}")
    refused = await wait_condition(kube, namespace, "no-key", "False", "AuthenticationFailed")
    assert condition(refused)["message"] == (
        f"secret '{namespace}/no-key' holds 'tls.crt' but no 'tls.key'"
    )
