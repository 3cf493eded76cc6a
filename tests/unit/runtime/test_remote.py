"""Remotes: the kubeconfig Secret read as Flux reads it, one client per kubeconfig
content shared by the objects using it, closed when the last lets go or its content
changes, and an unreachable server said without a credential. (The remote API server
itself is proven in tests/integration/remote/test_kubeconfig_secret.py.)"""

from __future__ import annotations

import base64
from typing import Any, cast

import pytest
import yaml

from kidp_gitops.api import meta
from kidp_gitops.devcluster.cluster import free_port
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.config import ClusterConfig
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.runtime import redact, remote
from kidp_gitops.runtime.reconcile import StalledError
from kidp_gitops.runtime.tenancy import Lockdown

TOKEN = "a-token-never-to-be-said"


def kubeconfig(server: str) -> bytes:
    return yaml.safe_dump(
        {
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"token": TOKEN}}],
        }
    ).encode()


class Secrets:
    """The engine's client, as far as reading Secrets goes (and naming its sender,
    which a remote's client takes on)."""

    user_agent = "kustomize-controller/v0 (pod_1)"

    def __init__(self, secrets: dict[str, dict[str, bytes]]):
        self.secrets = secrets

    async def get(self, path: str, *_: Any) -> dict[str, Any]:
        name = path.rsplit("/", 1)[-1]
        if name not in self.secrets:
            raise ApiError(404, "NotFound", f"secrets {name!r} not found")
        data = {k: base64.b64encode(v).decode() for k, v in self.secrets[name].items()}
        return {"data": data}


def remotes(secrets: dict[str, dict[str, bytes]]) -> remote.Remotes:
    client = cast(KubeClient, Secrets(secrets))
    return remote.Remotes(client, cast(RestMapper, None))


def ref(name: str, key: str | None = None) -> meta.KubeConfigReference:
    return meta.KubeConfigReference.model_validate({"secretRef": {"name": name, "key": key}})


async def test_the_key_is_the_named_one_else_value_else_value_yaml() -> None:
    first, second, third = (kubeconfig(f"http://127.0.0.1:{n}") for n in (1, 2, 3))
    found = remotes({"s": {"value.yaml": first, "value": second, "other": third}})
    assert await found._kubeconfig("ns", ref("s").secret_ref) == second  # type: ignore[arg-type]
    assert await found._kubeconfig("ns", ref("s", "other").secret_ref) == third  # type: ignore[arg-type]
    found = remotes({"s": {"value.yaml": first}})
    assert await found._kubeconfig("ns", ref("s").secret_ref) == first  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("secrets", "reference", "says"),
    [
        ({}, ref("s"), "kubeConfig Secret 'ns/s' not found"),
        ({"s": {"other": b"x"}}, ref("s"), "has neither a 'value' nor a 'value.yaml' key"),
        ({"s": {"value": b"x"}}, ref("s", "config"), "has no key 'config'"),
        ({"s": {"value": b"[a list]"}}, ref("s"), "refused kubeConfig: the kubeconfig is not a"),
    ],
)
async def test_a_kubeconfig_that_cannot_be_used_is_said(
    secrets: dict[str, dict[str, bytes]], reference: meta.KubeConfigReference, says: str
) -> None:
    with pytest.raises(remote.InvalidKubeConfig, match=says):
        await remotes(secrets).target("Kustomization/ns/a", "ns", reference, None, Lockdown())


async def test_one_remote_per_content_closed_when_its_last_user_lets_go() -> None:
    secrets = {"s": {"value": kubeconfig("http://127.0.0.1:1")}}
    found = remotes(secrets)
    first = await found._by_kubeconfig("Kustomization/ns/a", secrets["s"]["value"])
    assert await found._by_kubeconfig("HelmRelease/ns/b", secrets["s"]["value"]) is first
    closed: list[str] = []
    first.on_close(lambda: closed.append(first.digest))

    # `a`'s Secret changes: a new remote for it; `b` still uses the old one.
    changed = kubeconfig("http://127.0.0.1:2")
    second = await found._by_kubeconfig("Kustomization/ns/a", changed)
    assert second is not first
    assert found.remotes() == [first, second]
    assert not closed

    await found.release("HelmRelease/ns/b")
    assert closed == [first.digest]
    assert found.remotes() == [second]
    # The closed remote's credentials are forgotten; the open one's still masked.
    assert f"kubeconfig/{first.digest}" not in redact.REDACTOR._by_owner
    assert f"kubeconfig/{second.digest}" in redact.REDACTOR._by_owner
    await found.release("Kustomization/ns/a")
    assert found.remotes() == []


async def test_an_unreachable_remote_is_said_without_its_credentials() -> None:
    server = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    found = remotes({"s": {"value": kubeconfig(server)}})
    with pytest.raises(remote.Unreachable) as caught:
        await found.target("Kustomization/ns/a", "ns", ref("s"), "deployer", Lockdown())
    assert caught.value.reason == remote.REMOTE_UNREACHABLE
    assert f"remote cluster {server} is unreachable" in caught.value.message
    assert "nothing is applied or pruned" in caught.value.message
    assert TOKEN not in caught.value.message
    await found.close()
    assert found.remotes() == []


async def test_no_kubeconfig_is_this_cluster_as_the_account() -> None:
    async def anonymous() -> str | None:
        return None

    engine = KubeClient(ClusterConfig("http://127.0.0.1:1", False, anonymous))
    found = remote.Remotes(engine, cast(RestMapper, None))
    target = await found.target("Kustomization/ns/a", "ns", None, "deployer", Lockdown())
    assert target.remote is None
    assert target.key == remote.LOCAL
    assert target.client.user == "system:serviceaccount:ns:deployer"
    lockdown = Lockdown(default_service_account="default")
    target = await found.target("Kustomization/ns/a", "ns", None, None, lockdown)
    assert target.client.user == "system:serviceaccount:ns:default"


class ConfigMaps:
    """The engine's client, as far as ConfigMaps and TokenRequests go (and naming its
    sender, which a remote's client takes on)."""

    user_agent = "kustomize-controller/v0 (pod_1)"

    def __init__(self, configmaps: dict[str, dict[str, str]]):
        self.configmaps = configmaps
        self.tokens: list[str] = []

    async def get(self, path: str, *_: Any) -> dict[str, Any]:
        name = path.rsplit("/", 1)[-1]
        if name not in self.configmaps:
            raise ApiError(404, "NotFound", f"configmaps {name!r} not found")
        return {"data": self.configmaps[name]}

    async def create(self, path: str, body: Any) -> dict[str, Any]:
        if path.endswith("/tokenreviews"):  # a token for another cluster: not valid here
            return {"status": {"authenticated": False}}
        self.tokens.append(path)
        if "/serviceaccounts/ghost/" in path:
            raise ApiError(404, "NotFound", 'serviceaccounts "ghost" not found')
        return {"status": {"token": TOKEN, "expirationTimestamp": "2999-01-01T00:00:00Z"}}


def by_identity(name: str) -> meta.KubeConfigReference:
    return meta.KubeConfigReference.model_validate({"configMapRef": {"name": name}})


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (None, "kubeConfig ConfigMap 'ns/kc' not found"),
        ({"provider": "generic"}, "has no 'address' key"),
        (
            {"provider": "generic", "address": "127.0.0.1:1", "serviceAccountName": "ghost"},
            "no token for service account 'ns/ghost' of this cluster (404 NotFound",
        ),
    ],
)
async def test_a_workload_identity_configmap_that_cannot_be_used_is_said(
    data: dict[str, str] | None, says: str
) -> None:
    client = ConfigMaps({"kc": data} if data is not None else {})
    found = remote.Remotes(cast(KubeClient, client), cast(RestMapper, None))
    with pytest.raises(remote.InvalidKubeConfig) as caught:
        await found.target("Kustomization/ns/a", "ns", by_identity("kc"), None, Lockdown())
    assert caught.value.reason == remote.INVALID_KUBECONFIG
    assert says in caught.value.message


async def test_a_cloud_providers_workload_identity_stalls_naming_it() -> None:
    data = {"provider": "aws", "cluster": "arn:aws:eks:eu-central-1:1:cluster/c"}
    found = remote.Remotes(cast(KubeClient, ConfigMaps({"kc": data})), cast(RestMapper, None))
    with pytest.raises(remote.UnsupportedProvider) as caught:
        await found.target("Kustomization/ns/a", "ns", by_identity("kc"), None, Lockdown())
    assert isinstance(caught.value, StalledError)
    assert caught.value.reason == "UnsupportedField"
    assert caught.value.message.startswith(
        "spec.kubeConfig.configMapRef: kubeConfig ConfigMap 'ns/kc' sets provider 'aws'"
    )


async def test_workload_identity_sends_the_lockdowns_account_and_shares_one_remote() -> None:
    server = f"127.0.0.1:{free_port()}"  # nothing listens there
    data = {"provider": "generic", "address": server}
    client = ConfigMaps({"kc": data, "same": dict(data)})
    found = remote.Remotes(cast(KubeClient, client), cast(RestMapper, None))
    lockdown = Lockdown(default_service_account="tenant")
    with pytest.raises(remote.Unreachable) as caught:
        await found.target("Kustomization/ns/a", "ns", by_identity("kc"), None, lockdown)
    assert f"remote cluster https://{server} is unreachable" in caught.value.message
    assert TOKEN not in caught.value.message
    assert client.tokens == ["/api/v1/namespaces/ns/serviceaccounts/tenant/token"]
    with pytest.raises(remote.Unreachable):
        await found.target("HelmRelease/ns/b", "ns", by_identity("same"), None, lockdown)
    assert len(found.remotes()) == 1  # the same address, account and audiences
    assert len(client.tokens) == 1  # and the same token, held
    await found.close()


@pytest.mark.parametrize(
    ("lockdown", "named", "acting", "account"),
    [
        (Lockdown(default_kubeconfig_service_account="identity"), None, None, "identity"),
        (Lockdown(default_kubeconfig_service_account="identity"), None, "app", "identity"),
        (Lockdown(default_service_account="tenant"), "named", None, "named"),
        (
            Lockdown(default_service_account="tenant", default_kubeconfig_service_account="wi"),
            None,
            None,
            "wi",
        ),
        (Lockdown(default_service_account="tenant"), None, None, "tenant"),
        (Lockdown(default_service_account="tenant"), None, "app", "app"),
        (Lockdown(), None, "app", "app"),
        (Lockdown(), None, None, None),
    ],
)
def test_which_account_a_configmap_sends(
    lockdown: Lockdown, named: str | None, acting: str | None, account: str | None
) -> None:
    """The ConfigMap's own, else --default-kubeconfig-service-account (Flux's order),
    else the account the object acts as; the engine's (None) only for an object that
    acts as the engine."""
    assert lockdown.kubeconfig_account(named, acting) == account
