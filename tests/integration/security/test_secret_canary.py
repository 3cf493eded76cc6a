"""No value that came from a Secret shows anywhere (issue 12): a unique canary, read
from a Secret by a Kustomization's `substituteFrom` and a HelmRelease's `valuesFrom`,
lands in ConfigMaps (so it is no longer "a Secret's value" by kind); after a drift
correction of each, it is found in none of the events, statuses, the engine's log, its
metrics, the dashboard's API or `kidp` output — plain, base64 or JSON-escaped.

(A failed decryption never has the plaintext to show: tests/integration/kustomize/
test_sops.py checks that its status and events hold none.)
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable

import aiohttp
import pytest
import yaml

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.helpers import kidp_on
from tests.integration.helm.helpers import HR, request, wait_hr
from tests.integration.kustomize.helpers import KS, kustomization, setup_source, wait_ready
from tests.integration.security.helpers import chart, helmrelease
from tests.integration.source.helpers import create_secret
from tests.integration.wait import until

TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
data:
  token: {{ .Values.token | quote }}
"""


def forms(canary: str) -> list[str]:
    return [canary, base64.b64encode(canary.encode()).decode(), json.dumps(canary)[1:-1]]


async def test_the_canary_is_found_nowhere(
    kube: KubeClient,
    namespace: str,
    engine: Engine,
    installed: DevCluster,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kidp_gitops")
    canary = f"canary-{uuid.uuid4().hex}"
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "substituted", "namespace": namespace},
        "data": {"password": "${password}"},
    }
    files = {"apps/cm.yaml": yaml.safe_dump(manifest), **chart("valued", TEMPLATE)}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await create_secret(kube, namespace, "vars", {"password": canary})
    await create_secret(kube, namespace, "values", {"values.yaml": f"token: {canary}\n"})
    post = {"substituteFrom": [{"kind": "Secret", "name": "vars"}]}
    await kube.create(KS.format(ns=namespace), kustomization("apps", "apps", postBuild=post))
    hr = helmrelease(
        "valued",
        "valued",
        valuesFrom=[{"kind": "Secret", "name": "values"}],
        driftDetection={"mode": "enabled"},
    )
    await kube.create(HR.format(ns=namespace), hr)
    await wait_ready(kube, namespace, "apps")
    await wait_hr(kube, namespace, "valued", "True", "InstallSucceeded")
    cms = f"/api/v1/namespaces/{namespace}/configmaps"
    assert (await kube.get(f"{cms}/substituted"))["data"]["password"] == canary
    assert (await kube.get(f"{cms}/valued-cm"))["data"]["token"] == canary

    # Drift on both: each correction is reported, with the canary masked.
    for cm, key in (("substituted", "password"), ("valued-cm", "token")):
        await kube.patch(f"{cms}/{cm}", {"data": {key: "edited-by-hand"}})
    await request(kube, namespace, "valued")

    async def corrected() -> list[str] | None:
        listed = await kube.list(f"/api/v1/namespaces/{namespace}/events")
        found = [e["message"] for e in listed["items"] if e["reason"] == "DriftCorrected"]
        return found if len(found) >= 2 else None

    messages = await until(corrected, 60, "both drift corrections to be reported")
    # The Kustomization's report shows the values, the canary masked (the release's
    # report names the changed fields only).
    assert any("'edited-by-hand' → '******'" in m for m in messages), messages
    for cm, key in (("substituted", "password"), ("valued-cm", "token")):
        assert (await kube.get(f"{cms}/{cm}"))["data"][key] == canary

    # Everywhere a person or a program could read it.
    seen: dict[str, str] = {
        "events": json.dumps(await kube.list(f"/api/v1/namespaces/{namespace}/events")),
        "kustomization": json.dumps(await kube.get(f"{KS.format(ns=namespace)}/apps")),
        "helmrelease": json.dumps(await kube.get(f"{HR.format(ns=namespace)}/valued")),
        "engine log": caplog.text,
    }
    async with aiohttp.ClientSession() as http:
        dash = f"http://127.0.0.1:{engine.ports['dashboard']}/api/v1"
        for path in ("/objects", "/events"):
            async with http.get(dash + path) as resp:
                seen[f"dashboard {path}"] = await resp.text()
        assert engine.manager is not None
        metrics = f"http://127.0.0.1:{engine.manager.bound_port}/metrics"
        async with http.get(metrics) as resp:
            seen["metrics"] = await resp.text()
    for args in (["events", "-n", namespace], ["get", "all", "-n", namespace]):
        result = await kidp_on(installed, *args)
        seen[f"kidp {' '.join(args)}"] = result.output
    for where, text in seen.items():
        for form in forms(canary):
            assert form not in text, f"the canary shows in {where}"
