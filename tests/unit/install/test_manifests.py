"""`kidp install`'s shape is Flux's: one Deployment per controller, Flux's names, labels,
Services and NetworkPolicies, and Flux's multi-tenancy patches fit the export unchanged
and reach the flags the process reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from typer.testing import CliRunner

from kidp_gitops.api import components
from kidp_gitops.cli.main import app
from kidp_gitops.engine import run as engine_run
from kidp_gitops.engine.run import EngineOptions, HttpApp
from kidp_gitops.install import manifests
from kidp_gitops.runtime.tenancy import Lockdown
from tests.unit.install import patched

JSON = dict[str, Any]


def export(*flags: str) -> list[JSON]:
    result = CliRunner().invoke(app, ["install", "--export", *flags])
    assert result.exit_code == 0, result.output
    return [d for d in yaml.safe_load_all(result.output) if d]


def of_kind(objects: list[JSON], kind: str) -> dict[str, JSON]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(deployment: JSON) -> JSON:
    return deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_flux_controllers_each_in_their_deployment() -> None:
    objects = export()
    deployments = of_kind(objects, "Deployment")
    assert sorted(deployments) == [
        "helm-controller",
        "kustomize-controller",
        "notification-controller",
        "source-controller",
    ]
    for name, deployment in deployments.items():
        key = components.BY_NAME[name].key
        pod = deployment["spec"]["template"]
        assert pod["spec"]["serviceAccountName"] == name
        assert pod["metadata"]["labels"]["app"] == name
        assert deployment["spec"]["selector"]["matchLabels"] == {"app": name}
        labels = deployment["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "flux"
        assert labels["app.kubernetes.io/component"] == name
        main = container(deployment)
        # Flags only: Flux's patches insert at args/0.
        assert all(a.startswith("--") for a in main["args"]), main["args"]
        # The generator goes with the sources unless source-watcher is installed apart.
        hosted = f"{key},source-watcher" if key == "source" else key
        assert f"--controllers={hosted}" in main["args"]
        assert main["resources"]["limits"]["memory"]
        assert main["readinessProbe"]["httpGet"]["port"] == "http-prom"
    assert any(
        a.startswith("--artifact-url=") for a in container(deployments["source-controller"])["args"]
    )
    assert not any(
        a.startswith("--artifact") for a in container(deployments["kustomize-controller"])["args"]
    )
    assert set(of_kind(objects, "ServiceAccount")) == set(deployments)


def test_services_lead_to_the_pod_that_serves_them() -> None:
    services = of_kind(export(), "Service")
    wanted = {
        "source-controller": ("source-controller", "http"),
        "webhook-receiver": ("notification-controller", "http-webhook"),
        "notification-controller": ("notification-controller", "http-webhook"),
    }
    for name, (pod, port) in wanted.items():
        assert services[name]["spec"]["selector"] == {"app": pod}
        assert services[name]["spec"]["ports"][0]["port"] == 80
        assert services[name]["spec"]["ports"][0]["targetPort"] == port


def test_network_policies_are_fluxs() -> None:
    policies = of_kind(export(), "NetworkPolicy")
    assert sorted(policies) == ["allow-egress", "allow-scraping", "allow-webhooks"]
    webhooks = policies["allow-webhooks"]["spec"]
    assert webhooks["podSelector"] == {"matchLabels": {"app": "notification-controller"}}


def test_components_and_extras() -> None:
    objects = export(
        "--components=source-controller,kustomize-controller",
        "--components-extra=image-reflector-controller,image-automation-controller",
    )
    assert sorted(of_kind(objects, "Deployment")) == [
        "image-automation-controller",
        "image-reflector-controller",
        "kustomize-controller",
        "source-controller",
    ]
    assert "webhook-receiver" not in of_kind(objects, "Service")
    refused = CliRunner().invoke(app, ["install", "--export", "--components=kidp"])
    assert refused.exit_code != 0
    assert "unknown component kidp" in refused.output


def test_single_process_keeps_one_deployment() -> None:
    objects = export("--single-process")
    (deployment,) = of_kind(objects, "Deployment").values()
    assert deployment["metadata"]["name"] == manifests.ENGINE
    every = "--controllers=source,kustomize,helm,notification,source-watcher"
    assert every in container(deployment)["args"]
    for service in of_kind(objects, "Service").values():
        assert service["spec"]["selector"] == {"app": manifests.ENGINE}


class FakeEngine:
    seen: ClassVar[list[EngineOptions]] = []

    def __init__(self, options: EngineOptions, apps: Sequence[HttpApp] = ()):
        self.seen.append(options)

    async def run(self, *, handle_signals: bool = False) -> None:
        return None


def options_of(deployment: JSON, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> EngineOptions:
    """What the process of `deployment` would run with: its command's flags as our CLI
    reads them."""
    main = container(deployment)
    assert main["command"] == ["kidp", "controller", "run"]
    FakeEngine.seen = []
    monkeypatch.setattr(engine_run, "Engine", FakeEngine)
    args = [a for a in main["args"] if not a.startswith("--data-dir")]
    result = CliRunner().invoke(app, ["controller", "run", *args, f"--data-dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    (options,) = FakeEngine.seen
    return options


def test_fluxs_lockdown_patches_reach_the_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployments = patched.deployments(tmp_path, patched.LOCKDOWN)

    kustomize = options_of(deployments["kustomize-controller"], monkeypatch, tmp_path)
    assert kustomize.lockdown == Lockdown(
        no_cross_namespace_refs=True, no_remote_bases=True, default_service_account="default"
    )
    assert kustomize.controllers == (components.KUSTOMIZE,)
    helm = options_of(deployments["helm-controller"], monkeypatch, tmp_path)
    assert helm.lockdown == Lockdown(
        no_cross_namespace_refs=True, default_service_account="default"
    )
    notification = options_of(deployments["notification-controller"], monkeypatch, tmp_path)
    assert notification.lockdown == Lockdown(no_cross_namespace_refs=True)
    # Untouched by the patches, as in Flux.
    source = options_of(deployments["source-controller"], monkeypatch, tmp_path)
    assert source.lockdown == Lockdown()
    assert source.artifact_url == "http://source-controller.flux-system.svc.cluster.local."


def selector(deployment: JSON) -> str | None:
    found = [a for a in container(deployment)["args"] if a.startswith("--watch-label-selector=")]
    return found[0].partition("=")[2] if found else None


def test_shards_as_fluxs_sharding_guide() -> None:
    objects = export("--shards=2")
    deployments = of_kind(objects, "Deployment")
    for name in ("source-controller", "kustomize-controller", "helm-controller"):
        assert selector(deployments[name]) == "!sharding.fluxcd.io/key"
        for k in (1, 2):
            shard = deployments[f"{name}-shard{k}"]
            assert selector(shard) == f"sharding.fluxcd.io/key=shard{k}"
            assert shard["spec"]["template"]["spec"]["serviceAccountName"] == name
            assert shard["spec"]["selector"]["matchLabels"] == {"app": f"{name}-shard{k}"}
    # Notification is not sharded; each source shard serves its artifacts under its name.
    assert selector(deployments["notification-controller"]) is None
    services = of_kind(objects, "Service")
    assert services["source-controller-shard2"]["spec"]["selector"] == {
        "app": "source-controller-shard2"
    }
    assert (
        "--artifact-url=http://source-controller-shard2.flux-system.svc.cluster.local."
        in container(deployments["source-controller-shard2"])["args"]
    )
    assert len(deployments) == 4 + 3 * 2


def test_each_shard_elects_its_own_leader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deployments = of_kind(export("--shards=2"), "Deployment")
    leases = {
        options_of(deployments[name], monkeypatch, tmp_path).lease_name()
        for name in (
            "kustomize-controller",
            "kustomize-controller-shard1",
            "kustomize-controller-shard2",
        )
    }
    assert len(leases) == 3
    assert all(lease.startswith("kustomize-controller-leader-election") for lease in leases)


def test_replicas_with_leader_election_and_disruption_budgets() -> None:
    single = export()
    assert {d["spec"]["replicas"] for d in of_kind(single, "Deployment").values()} == {1}
    assert of_kind(single, "PodDisruptionBudget") == {}  # Flux's default: one replica

    objects = export("--replicas=2", "--shards=1")
    deployments = of_kind(objects, "Deployment")
    budgets = of_kind(objects, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] == 2, name
        assert "--enable-leader-election" in container(deployment)["args"], name
        affinity = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        term = affinity["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
        assert term["labelSelector"] == {"matchLabels": {"app": name}}
    # Every replicated controller keeps one pod through a drain, but those serving
    # artifacts: their standbys are not ready (only the leader's store has artifacts),
    # so a budget would refuse every eviction of the leader. They are replaced whole.
    serving = {"source-controller", "source-controller-shard1"}
    assert set(budgets) == set(deployments) - serving
    for name, budget in budgets.items():
        assert budget["spec"]["minAvailable"] == 1
        assert budget["spec"]["selector"] == {"matchLabels": {"app": name}}
    for name in serving:
        assert deployments[name]["spec"]["strategy"] == {"type": "Recreate"}
    assert "strategy" not in deployments["kustomize-controller"]["spec"]

    one = export("--replicas=2", "--single-process")
    assert of_kind(one, "Deployment")[manifests.ENGINE]["spec"]["replicas"] == 2
    assert of_kind(one, "PodDisruptionBudget") == {}  # it serves artifacts


def test_each_replica_elects_and_names_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicas run with leader election on, and send their name and identity (the
    audit log's userAgent) so the API server tells them apart."""
    deployments = of_kind(export("--replicas=2"), "Deployment")
    source = options_of(deployments["source-controller"], monkeypatch, tmp_path)
    kustomize = options_of(deployments["kustomize-controller"], monkeypatch, tmp_path)
    assert source.leader_elect
    assert kustomize.leader_elect
    assert source.process_name() == "source-controller"
    assert kustomize.identity() != ""
    agent = kustomize.user_agent(kustomize.identity())
    assert agent.startswith("kustomize-controller/v")
    assert agent.endswith(f"({kustomize.identity()})")


def test_source_watcher_in_its_own_deployment_as_flux_27() -> None:
    objects = export("--components-extra=source-watcher")
    deployments = of_kind(objects, "Deployment")
    watcher = container(deployments["source-watcher"])
    assert "--controllers=source-watcher" in watcher["args"]
    assert "--artifact-url=http://source-watcher.flux-system.svc.cluster.local." in watcher["args"]
    assert any(p["name"] == "http" for p in watcher["ports"])
    # The sources' process no longer runs the generator.
    assert "--controllers=source" in container(deployments["source-controller"])["args"]
    services = of_kind(objects, "Service")
    assert services["source-watcher"]["spec"]["selector"] == {"app": "source-watcher"}
    assert "source-watcher" in of_kind(objects, "ServiceAccount")
    role = of_kind(objects, "ClusterRole")["source-watcher-flux-system"]
    writes = {
        (group, resource)
        for rule in role["rules"]
        if "*" in rule["verbs"] or "create" in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert ("source.extensions.fluxcd.io", "*") in writes
    assert ("source.toolkit.fluxcd.io", "externalartifacts") in writes
    assert ("source.toolkit.fluxcd.io", "gitrepositories") not in writes
    assert ("", "secrets") not in writes
    # Without it, no Service of that name: the sources' serve what the generator makes.
    assert "source-watcher" not in of_kind(export(), "Service")


def test_a_process_is_named_after_what_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sources with the generator beside them keep source-controller's name and
    lease; source-watcher apart elects under its own."""
    default = of_kind(export(), "Deployment")
    apart = of_kind(export("--components-extra=source-watcher"), "Deployment")
    riding = options_of(default["source-controller"], monkeypatch, tmp_path)
    assert riding.controllers == (components.SOURCE, components.SOURCE_WATCHER)
    assert riding.lease_name() == "source-controller-leader-election"
    assert riding.process_name() == "source-controller"
    watcher = options_of(apart["source-watcher"], monkeypatch, tmp_path)
    assert watcher.controllers == (components.SOURCE_WATCHER,)
    assert watcher.lease_name() == "source-watcher-leader-election"
    sources = options_of(apart["source-controller"], monkeypatch, tmp_path)
    assert sources.controllers == (components.SOURCE,)
