"""Secrets and ConfigMaps named by `valuesFrom` are inputs: a change to one upgrades the
release within seconds, without a requested reconcile, with an event that names the
object and shows no value."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import DEPLOY, HR, NAME, prd_release, wait_hr
from tests.integration.kustomize.helpers import example_files, setup_source
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

WITHIN = 30  # seconds: a helm upgrade that waits for the rollout, on a busy shared machine


async def deployment(kube: KubeClient, namespace: str) -> tuple[str, int]:
    dep = await kube.get(DEPLOY.format(ns=namespace, name=NAME))
    return dep["spec"]["template"]["spec"]["containers"][0]["image"], dep["spec"]["replicas"]


async def input_events(kube: KubeClient, namespace: str) -> list[str]:
    events = await kube.list(
        f"/api/v1/namespaces/{namespace}/events",
        params={"fieldSelector": f"involvedObject.name={NAME}"},
    )
    return [e["message"] for e in events["items"] if e["reason"] == "InputChanged"]


async def test_a_rotated_values_secret_and_a_changed_configmap_upgrade_the_release(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    old, new = uuid.uuid4().hex, uuid.uuid4().hex
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, example_files(namespace))
    secret = f"/api/v1/namespaces/{namespace}/secrets/operator-image"
    configmap = f"/api/v1/namespaces/{namespace}/configmaps/operator-scale"
    await kube.create(
        secret.rsplit("/", 1)[0],
        {
            "metadata": {"name": "operator-image"},
            "stringData": {"values.yaml": f"image: {{tag: {old}}}"},
        },
    )
    await kube.create(
        configmap.rsplit("/", 1)[0], {"metadata": {"name": "operator-scale"}, "data": {"n": "2"}}
    )
    hr = prd_release(namespace)
    del hr["spec"]["values"]  # they would win over valuesFrom
    hr["spec"]["valuesFrom"] = [
        {
            "kind": "ConfigMap",
            "name": "operator-scale",
            "valuesKey": "n",
            "targetPath": "replicaCount",
        },
        {"kind": "Secret", "name": "operator-image"},
    ]
    await kube.create(HR.format(ns=namespace), hr)
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded", timeout=180)
    assert await deployment(kube, namespace) == (f"ghcr.io/kidp/operators:{old}", 2)

    await kube.patch(secret, {"stringData": {"values.yaml": f"image: {{tag: {new}}}"}})

    async def rotated() -> bool:
        return await deployment(kube, namespace) == (f"ghcr.io/kidp/operators:{new}", 2)

    await until(rotated, WITHIN, "the upgrade with the rotated Secret's values")
    obj = await wait_hr(kube, namespace, NAME, "True", "UpgradeSucceeded")
    assert obj["status"]["history"][0]["version"] == 2
    messages = await until(lambda: input_events(kube, namespace), 10, "the InputChanged event")
    assert messages == [f"Secret/{namespace}/operator-image changed: reconciling"]

    await kube.patch(configmap, {"data": {"n": "3"}})

    async def scaled() -> bool:
        return await deployment(kube, namespace) == (f"ghcr.io/kidp/operators:{new}", 3)

    await until(scaled, WITHIN, "the upgrade with the changed ConfigMap's values")

    async def both_named() -> list[str] | None:
        found = await input_events(kube, namespace)
        return found if len(found) == 2 else None

    messages = await until(both_named, 10, "an InputChanged event naming the ConfigMap")
    assert f"ConfigMap/{namespace}/operator-scale changed: reconciling" in messages

    # The Secret's values, old and new, are in none of the engine's events and not in the
    # status (the Deployment's own events are the cluster's business).
    listed = (await kube.list(f"/api/v1/namespaces/{namespace}/events"))["items"]
    events = json.dumps([e for e in listed if e.get("reportingComponent") == "kidp-controller"])
    final: dict[str, Any] = await kube.get(f"{HR.format(ns=namespace)}/{NAME}")
    status = json.dumps(final["status"])
    for value in (old, new):
        for shown in (value, base64.b64encode(value.encode()).decode()):
            assert shown not in events
            assert shown not in status
