"""Bucket against a real S3-compatible server (versitygw) and the real control plane: a
bucket of manifests is applied by a Kustomization, an object uploaded later is applied on
the next reconcile, an unchanged bucket makes no new artifact; the revision is Flux's
index digest; the bucket's .sourceignore, spec.ignore and spec.prefix choose the objects;
a wrong secret key says why without the secret; providers kidp does not implement and
buckets over the limits are refused visibly."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from kidp_gitops.source import bucket as bucket_source
from tests.gitserver.keys import self_signed_certificate
from tests.integration.notification.helpers import events_once
from tests.integration.source.helmrepos import chart_files, create_chart, wait_ready
from tests.integration.source.helpers import artifact_files, condition, create_secret
from tests.integration.source.s3server import S3Server
from tests.integration.wait import until_object

pytestmark = pytest.mark.usefixtures("engine")

BUCKETS = "/apis/source.toolkit.fluxcd.io/v1/namespaces/{ns}/buckets"
KS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{ns}/kustomizations"


def configmap(namespace: str, name: str, value: str) -> bytes:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"v": value},
    }
    return yaml.safe_dump(cm).encode()


def index_revision(etags: dict[str, str]) -> str:
    """Flux's revision of a bucket, written out here from its definition: SHA-256 of the
    `<key> <etag>` lines of the objects, sorted by key."""
    lines = "".join(f"{key} {etags[key]}\n" for key in sorted(etags))
    return f"sha256:{hashlib.sha256(lines.encode()).hexdigest()}"


async def new_bucket(server: S3Server, name: str, objects: dict[str, bytes]) -> dict[str, str]:
    """A bucket holding `objects`; their ETags by key."""
    client = server.client(name)
    await client.create()
    return {key: await client.put(key, data) for key, data in objects.items()}


async def keys_secret(kube: KubeClient, namespace: str, server: S3Server, secret: str) -> None:
    await create_secret(
        kube, namespace, "s3-keys", {"accesskey": server.access_key, "secretkey": secret}
    )


async def create_bucket(
    kube: KubeClient, namespace: str, name: str, server: S3Server, **spec: Any
) -> None:
    """A Bucket checked hourly (so only a request reconciles it), over plain HTTP; `spec`
    adds or replaces fields (None: leaves it out)."""
    fields = {
        "interval": "1h",
        "endpoint": server.endpoint,
        "insecure": True,
        "bucketName": name,
        "secretRef": {"name": "s3-keys"},
        **spec,
    }
    await kube.create(
        BUCKETS.format(ns=namespace),
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "Bucket",
            "metadata": {"name": name},
            "spec": {k: v for k, v in fields.items() if v is not None},
        },
    )


async def request_reconcile(kube: KubeClient, namespace: str, name: str) -> str:
    stamp = f"{time.time():.6f}"
    await kube.patch(
        f"{BUCKETS.format(ns=namespace)}/{name}",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )
    return stamp


async def wait_bucket(
    kube: KubeClient,
    namespace: str,
    name: str,
    *,
    status: str = "True",
    reason: str | None = None,
    revision: str | None = None,
    handled: str | None = None,
) -> dict[str, Any]:
    def check(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        if obj is None:
            return None
        st = obj.get("status") or {}
        ready = condition(obj)
        ok = (
            ready.get("status") == status
            and reason in (None, ready.get("reason"))
            and st.get("observedGeneration") == obj["metadata"]["generation"]
            and revision in (None, (st.get("artifact") or {}).get("revision"))
            and handled in (None, st.get("lastHandledReconcileAt"))
        )
        return obj if ok else None

    what = f"Bucket {name} Ready={status} {reason or ''} {revision or ''}"
    return await until_object(kube, f"{BUCKETS.format(ns=namespace)}/{name}", check, 60, what)


async def wait_configmap(kube: KubeClient, namespace: str, name: str, value: str) -> None:
    def check(cm: dict[str, Any] | None) -> bool:
        return ((cm or {}).get("data") or {}).get("v") == value

    path = f"/api/v1/namespaces/{namespace}/configmaps/{name}"
    await until_object(kube, path, check, 60, f"ConfigMap {name} v={value}")


async def test_a_bucket_of_manifests_is_applied_and_a_new_object_on_the_next_reconcile(
    kube: KubeClient, namespace: str, s3_server: S3Server
) -> None:
    name = f"{namespace}-apps"
    etags = await new_bucket(s3_server, name, {"one.yaml": configmap(namespace, "one", "1")})
    await keys_secret(kube, namespace, s3_server, s3_server.secret_key)
    await create_bucket(kube, namespace, name, s3_server)
    obj = await wait_bucket(kube, namespace, name, revision=index_revision(etags))
    assert obj["status"]["url"] == obj["status"]["artifact"]["url"]
    assert set(await artifact_files(obj)) == {"one.yaml"}

    await kube.create(
        KS.format(ns=namespace),
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps"},
            "spec": {
                "interval": "1h",
                "path": "./",
                "prune": True,
                "sourceRef": {"kind": "Bucket", "name": name},
            },
        },
    )
    await wait_configmap(kube, namespace, "one", "1")

    # Nothing changed in the bucket: the same artifact, not a new one.
    stamp = await request_reconcile(kube, namespace, name)
    again = await wait_bucket(kube, namespace, name, handled=stamp)
    assert again["status"]["artifact"] == obj["status"]["artifact"]

    # A new object: a new revision, applied by the Kustomization.
    etags["two.yaml"] = await s3_server.client(name).put(
        "two.yaml", configmap(namespace, "two", "2")
    )
    await request_reconcile(kube, namespace, name)
    await wait_bucket(kube, namespace, name, revision=index_revision(etags))
    await wait_configmap(kube, namespace, "two", "2")
    events = await events_once(kube, namespace, "Bucket", name, reason="NewArtifact", count=2)
    news = [e for e in events if e["reason"] == "NewArtifact"]
    assert len(news) == 2
    assert "from '" + name + "' bucket" in news[-1]["message"]


async def test_the_prefix_sourceignore_and_spec_ignore_choose_the_objects(
    kube: KubeClient, namespace: str, s3_server: S3Server
) -> None:
    name = f"{namespace}-ign"
    objects = {
        ".sourceignore": b"*.md\n",
        "apps/a.yaml": b"a: 1\n",
        "apps/README.md": b"# not a manifest\n",
        "apps/drafts/b.yaml": b"b: 2\n",
        "apps/dir/": b"",  # a folder marker, not an object
        "other/c.yaml": b"c: 3\n",
    }
    etags = await new_bucket(s3_server, name, objects)
    await keys_secret(kube, namespace, s3_server, s3_server.secret_key)
    await create_bucket(kube, namespace, name, s3_server, prefix="apps/", ignore="drafts/\n")
    kept = {"apps/a.yaml": etags["apps/a.yaml"]}
    obj = await wait_bucket(kube, namespace, name, revision=index_revision(kept))
    files = await artifact_files(obj)
    # The .sourceignore is read at the bucket's root and kept, as Flux keeps it.
    assert files == {"apps/a.yaml": b"a: 1\n", ".sourceignore": b"*.md\n"}
    assert obj["status"]["observedIgnore"] == "drafts/\n"


async def test_a_helmchart_is_packaged_from_a_chart_in_a_bucket(
    kube: KubeClient, namespace: str, s3_server: S3Server
) -> None:
    name = f"{namespace}-charts"
    objects = {f"charts/app/{k}": v.encode() for k, v in chart_files("app", "0.1.0").items()}
    etags = await new_bucket(s3_server, name, objects)
    await keys_secret(kube, namespace, s3_server, s3_server.secret_key)
    await create_bucket(kube, namespace, name, s3_server)
    await wait_bucket(kube, namespace, name, revision=index_revision(etags))
    await create_chart(
        kube, namespace, "app", "charts/app", f"Bucket/{name}", reconcileStrategy="Revision"
    )
    chart = await wait_ready(kube, "HelmChart", namespace, "app", "True", "ChartPackageSucceeded")
    # As Flux: the Revision strategy's build metadata is the index digest's first 12 digits.
    short = index_revision(etags).removeprefix("sha256:")[:12]
    assert chart["status"]["artifact"]["revision"] == f"0.1.0+{short}"
    assert "app/templates/configmap.yaml" in await artifact_files(chart)


async def test_https_with_the_ca_of_cert_secret_ref(kube: KubeClient, namespace: str) -> None:
    certificate = self_signed_certificate()
    with S3Server(certificate) as server:
        name = f"{namespace}-tls"
        etags = await new_bucket(server, name, {"one.yaml": configmap(namespace, "one", "1")})
        await keys_secret(kube, namespace, server, server.secret_key)
        # Without the CA: the server's certificate is not trusted, and that is the reason.
        await create_bucket(kube, namespace, name, server, insecure=None)
        obj = await wait_bucket(
            kube, namespace, name, status="False", reason="BucketOperationFailed"
        )
        assert "CERTIFICATE_VERIFY_FAILED" in condition(obj)["message"]

        await create_secret(kube, namespace, "s3-ca", {"ca.crt": certificate.cert})
        await kube.patch(
            f"{BUCKETS.format(ns=namespace)}/{name}", {"spec": {"certSecretRef": {"name": "s3-ca"}}}
        )
        await wait_bucket(kube, namespace, name, revision=index_revision(etags))


async def test_a_wrong_secret_key_says_why_and_never_shows_the_key(
    kube: KubeClient, namespace: str, s3_server: S3Server
) -> None:
    name = f"{namespace}-auth"
    await new_bucket(s3_server, name, {"one.yaml": configmap(namespace, "one", "1")})
    wrong = "wrong-" + s3_server.secret_key[::-1]
    await keys_secret(kube, namespace, s3_server, wrong)
    await create_bucket(kube, namespace, name, s3_server)
    obj = await wait_bucket(kube, namespace, name, status="False", reason="BucketOperationFailed")
    message = condition(obj)["message"]
    assert f"failed to list objects of bucket '{name}'" in message
    assert "403 SignatureDoesNotMatch" in message
    events = await events_once(kube, namespace, "Bucket", name, message="SignatureDoesNotMatch")
    assert any("SignatureDoesNotMatch" in e["message"] for e in events)
    for text in [str(obj["status"]), *(e["message"] for e in events)]:
        assert wrong not in text
        assert s3_server.secret_key not in text

    # The right key: Ready, without touching the Bucket.
    await keys_secret(kube, namespace, s3_server, s3_server.secret_key)
    await request_reconcile(kube, namespace, name)
    await wait_bucket(kube, namespace, name)


async def test_a_missing_bucket_and_missing_keys_are_named(
    kube: KubeClient, namespace: str, s3_server: S3Server
) -> None:
    await create_secret(kube, namespace, "s3-keys", {"accesskey": s3_server.access_key})
    await create_bucket(kube, namespace, "nokeys", s3_server)
    obj = await wait_bucket(
        kube, namespace, "nokeys", status="False", reason="AuthenticationFailed"
    )
    assert "required fields 'accesskey' and 'secretkey'" in condition(obj)["message"]

    await keys_secret(kube, namespace, s3_server, s3_server.secret_key)
    await create_bucket(kube, namespace, f"{namespace}-none", s3_server)
    obj = await wait_bucket(kube, namespace, f"{namespace}-none", status="False")
    assert "404 NoSuchBucket" in condition(obj)["message"]


async def test_providers_and_fields_kidp_does_not_implement_are_refused(
    kube: KubeClient, namespace: str, s3_server: S3Server
) -> None:
    await create_bucket(kube, namespace, "gcs", s3_server, provider="gcp")
    obj = await wait_bucket(kube, namespace, "gcs", status="False", reason="UnsupportedField")
    assert condition(obj, "Stalled")["status"] == "True"
    assert condition(obj)["message"].startswith("spec.provider is set, but kidp-gitops")

    await create_bucket(kube, namespace, "irsa", s3_server, provider="aws", secretRef=None)
    obj = await wait_bucket(kube, namespace, "irsa", status="False", reason="UnsupportedField")
    assert "spec.provider 'aws' without spec.secretRef" in condition(obj)["message"]
    events = await events_once(kube, namespace, "Bucket", "irsa", reason="UnsupportedField")
    assert any(e["reason"] == "UnsupportedField" for e in events)


async def test_a_bucket_over_the_limits_is_refused_and_keeps_its_last_artifact(
    kube: KubeClient, namespace: str, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"{namespace}-big"
    etags = await new_bucket(s3_server, name, {"a.yaml": b"a: 1\n", "b.yaml": b"b: 2\n"})
    await keys_secret(kube, namespace, s3_server, s3_server.secret_key)
    await create_bucket(kube, namespace, name, s3_server)
    good = await wait_bucket(kube, namespace, name, revision=index_revision(etags))

    # The engine runs in this process: its limits are lowered for this test.
    monkeypatch.setattr(bucket_source, "MAX_OBJECTS", 2)
    await s3_server.client(name).put("c.yaml", b"c: 3\n")
    await request_reconcile(kube, namespace, name)
    obj = await wait_bucket(kube, namespace, name, status="False", reason="BucketOperationFailed")
    assert f"bucket '{name}' holds more than 2 objects" in condition(obj)["message"]
    assert obj["status"]["artifact"] == good["status"]["artifact"]

    monkeypatch.setattr(bucket_source, "MAX_OBJECTS", 100)
    monkeypatch.setattr(bucket_source, "MAX_OBJECT_BYTES", 1000)
    await s3_server.client(name).put("big.yaml", b"x" * 2000)
    stamp = await request_reconcile(kube, namespace, name)
    obj = await wait_bucket(
        kube, namespace, name, status="False", reason="BucketOperationFailed", handled=stamp
    )
    assert "object 'big.yaml' is 2000 bytes, over the limit 1000" in condition(obj)["message"]


async def test_kidp_creates_and_lists_a_bucket_source(
    kube: KubeClient, namespace: str, s3_server: S3Server, installed: DevCluster
) -> None:
    async def kidp(*args: str) -> str:
        env = {"KUBECONFIG": str(installed.kubeconfig), "KIDP_NAMESPACE": None}
        done = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
        assert done.exit_code == 0, done.output
        return done.output

    name = f"{namespace}-cli"
    etags = await new_bucket(s3_server, name, {"one.yaml": configmap(namespace, "one", "1")})
    created = await kidp(
        "create", "source", "bucket", name, "--namespace", namespace,
        "--bucket-name", name, "--endpoint", s3_server.endpoint, "--insecure",
        "--access-key", s3_server.access_key, "--secret-key", s3_server.secret_key,
    )  # fmt: skip
    assert s3_server.secret_key not in created
    obj = await wait_bucket(kube, namespace, name, revision=index_revision(etags))
    assert obj["spec"]["secretRef"] == {"name": name}
    listed = await kidp("get", "sources", "bucket", "--namespace", namespace)
    assert name in listed
    assert index_revision(etags) in listed or "stored artifact" in listed
