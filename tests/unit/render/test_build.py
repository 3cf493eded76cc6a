"""Building the PRD's repository: existing kustomizations, generated ones, every overlay
field, and the artifact left untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.render import build, errors, kustomization
from kidp_gitops.render.build import CommonMetadata, Image, Overlay, Patch, PatchTarget
from tests.unit.render.layout import find, names, snapshot, write


def run(root: Path, path: str, overlay: Overlay | None = None) -> list[dict[str, Any]]:
    return build.build(root, path, overlay or Overlay(), allow_remote_bases=False)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    spec = deployment["spec"]["template"]["spec"]
    first: dict[str, Any] = spec["containers"][0]
    return first


# --- the PRD layout -------------------------------------------------------------------


def test_production_overlay(repo: Path) -> None:
    objects = run(repo, "./infrastructure/overlays/production")
    assert names(objects) == [
        "Namespace/kidp-system",
        "CustomResourceDefinition/brokers.kidp.io",
        "ServiceAccount/kidp-operator",
        "Service/broker",
        "Deployment/kidp-operator",
        "StatefulSet/broker",
    ]
    operator = find(objects, "Deployment", "kidp-operator")
    assert operator["spec"]["replicas"] == 3
    assert container(operator)["image"] == "ghcr.io/company/kidp-operator:v1.2.3"
    assert container(operator)["resources"]["limits"]["cpu"] == 0.5


def test_staging_overlay_with_inline_patch_and_generator(repo: Path) -> None:
    objects = run(repo, "infrastructure/overlays/staging")
    assert find(objects, "StatefulSet", "broker")["spec"]["replicas"] == 2
    assert find(objects, "ConfigMap", "environment")["data"] == {"ENVIRONMENT": "staging"}


def test_development_overlay_keeps_its_own_prefix(repo: Path) -> None:
    objects = run(repo, "infrastructure/overlays/development")
    assert "Deployment/dev-kidp-operator" in names(objects)


def test_infrastructure_root_and_teams(repo: Path) -> None:
    assert len(run(repo, "infrastructure")) == 6
    assert names(run(repo, "./teams/team-backend")) == ["Service/postgres", "Deployment/api"]


def test_empty_path_is_the_root(repo: Path, tmp_path: Path) -> None:
    root = tmp_path / "flat"
    write(root, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: top}\n")
    assert names(run(root, "")) == names(run(root, "./")) == ["ConfigMap/top"]


# --- generated kustomization ----------------------------------------------------------


def test_generated_kustomization_lists_manifests_like_flux(repo: Path) -> None:
    write(repo, "policies/.sops.yaml", "creation_rules:\n  - age: age1xyz\n")
    write(repo, "policies/.gitlab-ci.yml", "stages: [test]\ntest:\n  script: [make]\n")
    write(repo, "policies/notes.txt", "not yaml at all: [")
    write(
        repo,
        "policies/extra/limits.yml",
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: l\n",
    )
    write(repo, "policies/team/kustomization.yaml", "resources: [q.yaml]\n")
    write(repo, "policies/team/q.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: q}\n")
    write(
        repo, "policies/team/ignored.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: i}\n"
    )
    rendered = kustomization.render(repo / "policies", Overlay(), repo.resolve())
    assert rendered.scan is not None
    assert rendered.scan.resources() == [
        "./extra/limits.yml",
        "./network-policies.yaml",
        "./pod-security.yaml",
        "./resource-quotas.yaml",
        "./team",
    ]
    objects = run(repo, "policies")
    assert sorted(names(objects)) == sorted(
        [
            "LimitRange/l",
            "NetworkPolicy/default-deny",
            "Namespace/team-backend",
            "ResourceQuota/team-backend",
            "ResourceQuota/team-frontend",
            "ConfigMap/q",
        ]
    )
    assert names(objects)[0] == "Namespace/team-backend"


def test_a_manifest_with_a_mistake_is_reported_not_skipped(tmp_path: Path) -> None:
    # Flux refuses to generate over broken manifests so that objects are not pruned
    # silently; a typo in `kind` must stop the build, not drop the object.
    write(tmp_path, "ok.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n")
    write(tmp_path, "typo.yaml", "apiVersion: v1\nknd: ConfigMap\nmetadata: {name: typo}\n")
    with pytest.raises(errors.BuildError, match="missing kind"):
        run(tmp_path, ".")
    write(tmp_path, "typo.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n")
    with pytest.raises(errors.BuildError, match=r"typo\.yaml"):
        run(tmp_path, ".")


def test_empty_directory_builds_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert run(tmp_path, "empty") == []
    assert run(tmp_path, "empty", Overlay(target_namespace="x")) == []


def test_kustomization_with_nothing_in_it_builds_nothing(tmp_path: Path) -> None:
    write(tmp_path, "kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\n")
    assert run(tmp_path, ".") == []


@pytest.mark.parametrize("name", ["kustomization.yml", "Kustomization"])
def test_other_kustomization_file_names(tmp_path: Path, name: str) -> None:
    write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n")
    write(tmp_path, "other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n")
    write(tmp_path, name, "resources: [cm.yaml]\n")
    assert names(run(tmp_path, ".", Overlay(name_suffix="-x"))) == ["ConfigMap/cm-x"]


# --- overlay fields -------------------------------------------------------------------


def test_target_namespace_overrides_the_kustomization(repo: Path) -> None:
    objects = run(repo, "teams/team-backend", Overlay(target_namespace="backend-prod"))
    assert {o["metadata"]["namespace"] for o in objects} == {"backend-prod"}


def test_target_namespace_on_generated_kustomization(repo: Path) -> None:
    objects = run(repo, "policies", Overlay(target_namespace="shared"))
    quota = find(objects, "ResourceQuota", "team-backend")
    assert quota["metadata"]["namespace"] == "shared"
    # kustomize's namespace transformer renames a Namespace object to the target
    assert "Namespace/shared" in names(objects)


def test_name_prefix_and_suffix_replace_the_files_own(repo: Path) -> None:
    overlay = Overlay(name_prefix="flux-", name_suffix="-v2")
    objects = run(repo, "infrastructure/overlays/development", overlay)
    assert "Deployment/flux-kidp-operator-v2" in names(objects)
    assert "Namespace/kidp-system" in names(objects)  # kustomize leaves Namespaces alone


def test_common_metadata_sets_object_metadata_only(repo: Path) -> None:
    metadata = CommonMetadata(
        labels={"app": "flux-owned", "team": "platform"},
        annotations={"owner": "platform@company.com"},
    )
    objects = run(repo, "infrastructure/overlays/production", Overlay(common_metadata=metadata))
    operator = find(objects, "Deployment", "kidp-operator")
    assert operator["metadata"]["labels"] == {"app": "flux-owned", "team": "platform"}
    assert operator["metadata"]["annotations"] == {"owner": "platform@company.com"}
    assert operator["spec"]["selector"]["matchLabels"] == {"app": "kidp-operator"}
    assert operator["spec"]["template"]["metadata"] == {"labels": {"app": "kidp-operator"}}
    assert all(o["metadata"]["labels"]["team"] == "platform" for o in objects)


def test_common_metadata_alone_keeps_the_direct_path(repo: Path) -> None:
    metadata = CommonMetadata(labels={"team": "platform"})
    objects = run(repo, "policies", Overlay(common_metadata=metadata))
    namespace = find(objects, "Namespace", "team-backend")
    assert namespace["metadata"]["labels"] == {
        "pod-security.kubernetes.io/enforce": "restricted",
        "team": "platform",
    }


def test_patches_strategic_merge_and_json6902(repo: Path) -> None:
    overlay = Overlay(
        patches=[
            Patch(
                patch=(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\n"
                    "spec:\n  template:\n    metadata:\n      annotations:\n"
                    '        cluster-autoscaler.kubernetes.io/safe-to-evict: "true"\n'
                ),
                target=PatchTarget(kind="Deployment", label_selector="app=kidp-operator"),
            ),
            Patch(
                patch="- op: replace\n  path: /spec/replicas\n  value: 5\n",
                target=PatchTarget(group="apps", version="v1", kind="StatefulSet", name="broker"),
            ),
        ]
    )
    objects = run(repo, "infrastructure/overlays/production", overlay)
    operator = find(objects, "Deployment", "kidp-operator")
    annotations = operator["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
    assert operator["spec"]["replicas"] == 3  # the file's own patch still applies
    assert find(objects, "StatefulSet", "broker")["spec"]["replicas"] == 5


def test_patch_without_target_names_its_object(repo: Path) -> None:
    patch = Patch(
        patch="apiVersion: v1\nkind: Service\nmetadata:\n  name: broker\n  namespace: kidp-system\n"
        "spec:\n  type: NodePort\n"
    )
    objects = run(repo, "infrastructure/overlays/production", Overlay(patches=[patch]))
    assert find(objects, "Service", "broker")["spec"]["type"] == "NodePort"


def test_images_replace_an_entry_with_the_same_name_and_add_others(repo: Path) -> None:
    overlay = Overlay(
        images=[
            Image(
                name="ghcr.io/company/kidp-operator", new_name="registry.local/kidp", new_tag="v9"
            ),
            Image(name="rabbitmq", digest="sha256:" + "a" * 64),
        ]
    )
    objects = run(repo, "infrastructure/overlays/production", overlay)
    operator = find(objects, "Deployment", "kidp-operator")
    assert container(operator)["image"] == "registry.local/kidp:v9"
    broker = find(objects, "StatefulSet", "broker")
    assert container(broker)["image"] == "rabbitmq@sha256:" + "a" * 64


def test_image_tag_keeps_its_spelling(repo: Path) -> None:
    write(
        repo,
        "infrastructure/overlays/production/kustomization.yaml",
        "resources: [../../base/operators]\nimages:\n- name: ghcr.io/company/kidp-operator\n"
        '  newTag: "1.20"\n',
    )
    objects = run(repo, "infrastructure/overlays/production", Overlay(target_namespace="p"))
    assert container(find(objects, "Deployment", "kidp-operator"))["image"].endswith(":1.20")


def test_components_are_appended_and_missing_ones_can_be_ignored(repo: Path) -> None:
    write(
        repo,
        "infrastructure/components/monitoring/kustomization.yaml",
        """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        commonLabels:
          monitoring: enabled
        resources: [servicemonitor.yaml]
        """,
    )
    write(
        repo,
        "infrastructure/components/monitoring/servicemonitor.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata:\n"
        "  name: kidp-operator\n  namespace: kidp-system\n",
    )
    overlay = Overlay(components=["../../components/monitoring"])
    objects = run(repo, "infrastructure/overlays/production", overlay)
    assert "ServiceMonitor/kidp-operator" in names(objects)
    assert find(objects, "Deployment", "kidp-operator")["metadata"]["labels"]["monitoring"] == (
        "enabled"
    )

    missing = Overlay(components=["../../components/monitoring", "../../components/absent"])
    with pytest.raises(errors.BuildError, match="absent"):
        run(repo, "infrastructure/overlays/production", missing)
    tolerant = Overlay(components=missing.components, ignore_missing_components=True)
    assert "ServiceMonitor/kidp-operator" in names(
        run(repo, "infrastructure/overlays/production", tolerant)
    )


@pytest.mark.parametrize(
    "component", ["/etc", "https://github.com/org/repo//c", "git@github.com:org/repo"]
)
def test_components_must_be_local_and_relative(repo: Path, component: str) -> None:
    with pytest.raises(errors.PathEscape, match=r"spec\.components"):
        run(repo, "teams/team-backend", Overlay(components=[component]))


def test_overlay_never_writes_into_the_artifact(repo: Path) -> None:
    write(repo, "broken/kustomization.yaml", "resources: [nothere.yaml]\n")
    before = snapshot(repo)
    overlay = Overlay(
        target_namespace="ns",
        name_prefix="a-",
        images=[Image(name="rabbitmq", new_tag="4")],
        patches=[
            Patch(
                patch="- op: add\n  path: /metadata/labels\n  value: {x: y}\n",
                target=PatchTarget(kind="Service"),
            )
        ],
    )
    for path in ("infrastructure/overlays/production", "policies", "teams/team-backend"):
        run(repo, path, overlay)
    with pytest.raises(errors.BuildError):
        run(repo, "broken", overlay)
    assert snapshot(repo) == before


def test_overlay_from_spec() -> None:
    from kidp_gitops.api.kustomize import KustomizationSpec

    spec = KustomizationSpec.model_validate(
        {
            "sourceRef": {"kind": "GitRepository", "name": "kidp-infrastructure"},
            "interval": "5m",
            "prune": True,
            "targetNamespace": "apps",
            "namePrefix": "p-",
            "commonMetadata": {"labels": {"a": "b"}},
            "patches": [{"patch": "x", "target": {"kind": "Deployment", "labelSelector": "a=b"}}],
            "images": [{"name": "nginx", "newTag": "1.27"}],
            "components": ["../c"],
            "ignoreMissingComponents": True,
        }
    )
    overlay = Overlay.from_spec(spec)
    assert overlay == Overlay(
        target_namespace="apps",
        name_prefix="p-",
        common_metadata=CommonMetadata(labels={"a": "b"}),
        patches=(Patch("x", PatchTarget(kind="Deployment", label_selector="a=b")),),
        images=(Image(name="nginx", new_tag="1.27"),),
        components=("../c",),
        ignore_missing_components=True,
    )
    assert hash(overlay) == hash(Overlay.from_spec(spec))
