"""OCIRepository against a real registry (go-containerregistry's) and the real control
plane: artifacts pushed with `kidp push artifact` and with the flux CLI are applied by a
Kustomization; semver ranges, tags and digest pins choose what is applied; credentials
are used, and refused ones say so without the password; a registry that goes away leaves
the last artifact in place."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from kidp_gitops.kube import KubeClient
from tests.integration.image.registry import Registry, TokenGate
from tests.integration.notification.helpers import events_once
from tests.integration.oci import flux
from tests.integration.oci.helpers import (
    OCI,
    configmap_value,
    create_kustomization,
    create_ocirepository,
    docker_secret,
    kidp,
    push,
    request_reconcile,
    wait_oci,
    wait_value,
    write_configmap,
)
from tests.integration.source.helpers import artifact_files

pytestmark = pytest.mark.usefixtures("engine")


async def test_a_semver_range_follows_new_tags_in_range_and_a_kustomization_applies_them(
    kube: KubeClient, namespace: str, registry: Registry, tmp_path: Path
) -> None:
    url = f"oci://{registry.host}/{namespace}/app"
    first = await push(f"{url}:1.0.0", write_configmap(tmp_path / "one", namespace, "one"))
    await create_ocirepository(
        kube, namespace, "app", {"url": url, "ref": {"semver": ">=1.0.0 <2.0.0"}}
    )
    obj = await wait_oci(kube, namespace, "app", revision=f"1.0.0@{first}")
    artifact = obj["status"]["artifact"]
    assert artifact["metadata"]["org.opencontainers.image.source"] == "https://git.example/app"
    assert obj["status"]["url"] == artifact["url"]
    assert "settings.yaml" in await artifact_files(obj)

    await create_kustomization(kube, namespace, "app", "app")
    await wait_value(kube, namespace, "one")

    # A new tag in the range: picked up and applied.
    second = await push(f"{url}:1.1.0", write_configmap(tmp_path / "two", namespace, "two"))
    await request_reconcile(kube, namespace, "app")
    await wait_oci(kube, namespace, "app", revision=f"1.1.0@{second}")
    await wait_value(kube, namespace, "two")

    # A tag out of the range: the source stays where it is, and so does the cluster.
    await push(f"{url}:2.0.0", write_configmap(tmp_path / "three", namespace, "three"))
    stamp = await request_reconcile(kube, namespace, "app")
    await wait_oci(kube, namespace, "app", revision=f"1.1.0@{second}", handled=stamp)
    assert await configmap_value(kube, namespace) == "two"


async def test_a_digest_pin_stays_put_while_its_tag_moves(
    kube: KubeClient, namespace: str, registry: Registry, tmp_path: Path
) -> None:
    url = f"oci://{registry.host}/{namespace}/pinned"
    first = await push(f"{url}:stable", write_configmap(tmp_path / "one", namespace, "one"))
    await create_ocirepository(kube, namespace, "pin", {"url": url, "ref": {"digest": first}})
    await create_ocirepository(kube, namespace, "tag", {"url": url, "ref": {"tag": "stable"}})
    await wait_oci(kube, namespace, "pin", revision=first)
    await wait_oci(kube, namespace, "tag", revision=f"stable@{first}")

    moved = await push(f"{url}:stable", write_configmap(tmp_path / "two", namespace, "two"))
    pin_stamp = await request_reconcile(kube, namespace, "pin")
    await request_reconcile(kube, namespace, "tag")
    await wait_oci(kube, namespace, "tag", revision=f"stable@{moved}")
    pinned = await wait_oci(kube, namespace, "pin", revision=first, handled=pin_stamp)
    assert b"one" in (await artifact_files(pinned))["settings.yaml"]


async def test_artifacts_cross_between_the_flux_cli_and_kidp(
    kube: KubeClient, namespace: str, registry: Registry, flux_cli: Path, tmp_path: Path
) -> None:
    # Pushed by flux, applied through our OCIRepository (written as v1beta2, still served).
    url = f"oci://{registry.host}/{namespace}/from-flux"
    source = write_configmap(tmp_path / "flux-src", namespace, "from-flux")
    await flux.run(
        flux_cli, tmp_path, "push", "artifact", f"{url}:v1", "--path", str(source),
        "--source", "https://git.example/flux", "--revision", "main@sha1:abc",
        "--insecure-registry",
    )  # fmt: skip
    await create_ocirepository(
        kube, namespace, "from-flux", {"url": url, "ref": {"tag": "v1"}}, api_version="v1beta2"
    )
    obj = await wait_oci(kube, namespace, "from-flux")
    assert obj["status"]["artifact"]["revision"].startswith("v1@sha256:")
    assert obj["status"]["artifact"]["metadata"]["org.opencontainers.image.revision"] == (
        "main@sha1:abc"
    )
    await create_kustomization(kube, namespace, "from-flux", "from-flux")
    await wait_value(kube, namespace, "from-flux")

    # Pushed by us, pulled by flux with the same content and metadata.
    ours = f"oci://{registry.host}/{namespace}/from-kidp:v1"
    theirs = tmp_path / "pulled"
    theirs.mkdir()
    content = write_configmap(tmp_path / "kidp-src", namespace, "from-kidp")
    digest = await push(ours, content, revision="main@sha1:def")
    out = await flux.run(
        flux_cli, tmp_path, "pull", "artifact", ours, "--output", str(theirs),
        "--insecure-registry",
    )  # fmt: skip
    assert "revision main@sha1:def" in out
    assert digest in out
    assert sorted(p.name for p in theirs.iterdir()) == ["settings.yaml"]
    assert (theirs / "settings.yaml").read_bytes() == (content / "settings.yaml").read_bytes()

    # And flux lists what we pushed with our annotations.
    listed = await flux.run(
        flux_cli, tmp_path, "list", "artifacts", ours.rsplit(":", 1)[0], "--insecure-registry"
    )
    assert "https://git.example/app" in listed
    assert "main@sha1:def" in listed


async def test_a_wrong_password_names_the_registry_and_never_the_password(
    kube: KubeClient, namespace: str, registry: Registry, token_gate: TokenGate, tmp_path: Path
) -> None:
    await push(
        f"oci://{registry.host}/{namespace}/private:v1",
        write_configmap(tmp_path / "one", namespace, "private"),
    )
    wrong = "not-the-" + token_gate.password
    await docker_secret(kube, namespace, "creds", token_gate.host, token_gate.username, wrong)
    await create_ocirepository(
        kube,
        namespace,
        "private",
        {
            "url": f"oci://{token_gate.host}/{namespace}/private",
            "ref": {"tag": "v1"},
            "secretRef": {"name": "creds"},
        },
    )
    obj = await wait_oci(kube, namespace, "private", status="False", reason="OCIArtifactPullFailed")
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert token_gate.host in ready["message"]
    assert token_gate.username in ready["message"]
    events = await events_once(
        kube, namespace, "OCIRepository", "private", reason="OCIArtifactPullFailed"
    )
    seen = json.dumps(obj) + json.dumps(events)
    assert wrong not in seen
    assert token_gate.password not in seen

    # The right password: the token flow gets through.
    await docker_secret(
        kube, namespace, "creds", token_gate.host, token_gate.username, token_gate.password
    )
    await request_reconcile(kube, namespace, "private")
    obj = await wait_oci(kube, namespace, "private")
    assert obj["status"]["artifact"]["revision"].startswith("v1@sha256:")


async def test_an_unreachable_registry_keeps_the_last_artifact(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    with Registry() as gone:
        url = f"oci://{gone.host}/{namespace}/app"
        digest = await push(f"{url}:v1", write_configmap(tmp_path / "one", namespace, "kept"))
        await create_ocirepository(kube, namespace, "app", {"url": url, "ref": {"tag": "v1"}})
        await wait_oci(kube, namespace, "app", revision=f"v1@{digest}")
        await create_kustomization(kube, namespace, "app", "app")
        await wait_value(kube, namespace, "kept")

    await request_reconcile(kube, namespace, "app")
    obj = await wait_oci(kube, namespace, "app", status="False", reason="OCIArtifactPullFailed")
    assert obj["status"]["artifact"]["revision"] == f"v1@{digest}"
    assert "settings.yaml" in await artifact_files(obj)  # still served
    assert await configmap_value(kube, namespace) == "kept"


async def test_a_registry_that_never_finishes_is_cut_at_spec_timeout(
    kube: KubeClient, namespace: str, registry: Registry, tmp_path: Path
) -> None:
    """Each answer comes in time for one request, but the tag pages never end: the whole
    reconcile stops at spec.timeout and the last artifact stays."""

    async def tags(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "0"))
        await asyncio.sleep(0.2)
        link = f'</v2/app/tags/list?page={page + 1}>; rel="next"'
        return web.json_response({"tags": [f"p{page}"]}, headers={"Link": link})

    app = web.Application()
    app.router.add_get("/v2/app/tags/list", tags)
    runner = web.AppRunner(app, shutdown_timeout=1.0)  # not 60 s for a request in flight
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"oci://{registry.host}/{namespace}/app"
        digest = await push(f"{url}:v1", write_configmap(tmp_path / "one", namespace, "kept"))
        await create_ocirepository(kube, namespace, "app", {"url": url, "ref": {"tag": "v1"}})
        await wait_oci(kube, namespace, "app", revision=f"v1@{digest}")

        endless = f"oci://127.0.0.1:{runner.addresses[0][1]}/app"
        spec = {"url": endless, "ref": {"semver": ">=1.0.0"}, "timeout": "2s"}
        await kube.patch(f"{OCI.format(ns=namespace)}/app", {"spec": spec})
        obj = await wait_oci(kube, namespace, "app", status="False", reason="OCIArtifactPullFailed")
    finally:
        await runner.cleanup()
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert "spec.timeout (2s)" in ready["message"]
    assert obj["status"]["artifact"]["revision"] == f"v1@{digest}"


async def test_the_layer_is_copied_as_it_is_when_asked(
    kube: KubeClient, namespace: str, registry: Registry, tmp_path: Path
) -> None:
    url = f"oci://{registry.host}/{namespace}/copied"
    await push(f"{url}:v1", write_configmap(tmp_path / "one", namespace, "copied"))
    manifest = json.loads(await kidp("list", "artifacts", url, "--insecure-registry", "-o", "json"))
    assert len(manifest) == 1
    await create_ocirepository(
        kube,
        namespace,
        "copied",
        {
            "url": url,
            "ref": {"tag": "v1"},
            "layerSelector": {
                "mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip",
                "operation": "copy",
            },
        },
    )
    obj = await wait_oci(kube, namespace, "copied")
    assert obj["status"]["observedLayerSelector"]["operation"] == "copy"
    assert "settings.yaml" in await artifact_files(obj)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("provider", "aws", "spec.provider"),
        ("verify", {"provider": "cosign"}, "spec.verify"),
    ],
)
async def test_what_kidp_does_not_serve_is_refused_visibly(
    kube: KubeClient, namespace: str, registry: Registry, field: str, value: object, named: str
) -> None:
    url = f"oci://{registry.host}/{namespace}/refused"
    await create_ocirepository(kube, namespace, "refused", {"url": url, field: value})
    obj = await wait_oci(kube, namespace, "refused", status="False", reason="UnsupportedField")
    stalled = next(c for c in obj["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["status"] == "True"
    assert named in stalled["message"]
    events = await events_once(kube, namespace, "OCIRepository", "refused", message=named)
    assert any(named in e["message"] for e in events)
