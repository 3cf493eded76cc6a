"""Bad input gets a message a person can act on (issue 12, point 4), on the real control
plane: a namespaced object without a namespace, and names that are no names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import HR
from tests.integration.kustomize.helpers import (
    KS,
    configmap,
    exists,
    kustomization,
    ready,
    setup_source,
    wait_ready,
)
from tests.integration.security.helpers import helmrelease


async def test_a_namespaced_object_without_a_namespace_says_so(
    kube: KubeClient,
    namespace: str,
    engine: Engine,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    homeless = configmap("homeless", namespace)
    del homeless["metadata"]["namespace"]
    files = {
        "apps/homeless.yaml": yaml.safe_dump(homeless),
        "apps/fine.yaml": yaml.safe_dump(configmap("fine", namespace)),
    }
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), kustomization("apps", "apps"))
    failed = await wait_ready(kube, namespace, "apps", "False", "ReconciliationFailed")
    assert ready(failed)["message"] == (
        "ConfigMap/homeless: namespaced, but metadata.namespace is not set: set it in Git, "
        "or spec.targetNamespace"
    )
    assert not await exists(kube, f"/api/v1/namespaces/{namespace}/configmaps/fine")

    # The remedy the message names works.
    await kube.patch(f"{KS.format(ns=namespace)}/apps", {"spec": {"targetNamespace": namespace}})
    await wait_ready(kube, namespace, "apps")
    assert await exists(kube, f"/api/v1/namespaces/{namespace}/configmaps/homeless")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("serviceAccountName", "../../kube-system/default"),
        ("targetNamespace", "Team_A"),
    ],
)
async def test_names_that_are_no_names_are_refused_by_the_api_server(
    kube: KubeClient, namespace: str, field: str, value: str
) -> None:
    for path, obj in (
        (KS.format(ns=namespace), kustomization("bad", "apps", **{field: value})),
        (HR.format(ns=namespace), helmrelease("bad", "plain", **{field: value})),
    ):
        with pytest.raises(ApiError) as caught:
            await kube.create(path, obj)
        assert caught.value.status == 422
        assert f"spec.{field}" in caught.value.message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("postBuild", {"substituteFrom": [{"kind": "Secret", "name": "../../kube-system/x"}]}),
        ("decryption", {"provider": "sops", "secretRef": {"name": "../other/secrets/keys"}}),
    ],
)
async def test_a_reference_that_is_a_path_is_refused_by_the_api_server(
    kube: KubeClient, namespace: str, field: str, value: Any
) -> None:
    """The engine reads what a reference names as itself: a name that is a path into
    another namespace never gets past admission (and the client refuses such a path too:
    tests/unit/kube/test_client_bounds.py)."""
    with pytest.raises(ApiError) as caught:
        await kube.create(KS.format(ns=namespace), kustomization("bad", "apps", **{field: value}))
    assert caught.value.status == 422
    assert f"spec.{field}" in caught.value.message
    values = [{"kind": "Secret", "name": "../../kube-system/x"}]
    with pytest.raises(ApiError) as caught:
        await kube.create(HR.format(ns=namespace), helmrelease("bad", "plain", valuesFrom=values))
    assert caught.value.status == 422
    assert "spec.valuesFrom[0].name" in caught.value.message
