"""Flux objects are checked against kidp's types, each problem at its file:line."""

from __future__ import annotations

from pathlib import Path

from tests.unit.validate.conftest import failing, line_of, replace, run, write

CLUSTER = "clusters/local/kustomizations.yaml"


def test_unknown_field_and_wrong_type_name_the_line(repo: Path) -> None:
    replace(repo, CLUSTER, "  path: ./teams\n  prune: true", "  path: ./teams\n  prune: yes")
    replace(repo, CLUSTER, "  path: ./policies\n", "  path: ./policies\n  tagetNamespace: x\n")

    found = failing(run(repo))

    assert [(f.file, f.line, f.check, f.object, f.message) for f in found] == [
        (
            CLUSTER,
            line_of(repo, CLUSTER, "prune: yes"),
            "flux",
            "Kustomization/flux-system/teams",
            "spec.prune: Input should be a valid boolean",
        ),
        (
            CLUSTER,
            line_of(repo, CLUSTER, "tagetNamespace"),
            "flux",
            "Kustomization/flux-system/policies",
            "spec.tagetNamespace: unknown field",
        ),
    ]


def test_helm_release_bad_field_in_a_built_directory(repo: Path) -> None:
    replace(repo, "releases/operators.yaml", "  interval: 10m", "  interval: ten minutes")
    found = failing(run(repo))
    assert len(found) == 1
    assert (
        found[0].where()
        == f"releases/operators.yaml:{line_of(repo, 'releases/operators.yaml', 'interval')}"
    )
    assert found[0].message.startswith("spec.interval:")


def test_a_kind_kidp_does_not_serve(repo: Path) -> None:
    write(
        repo,
        "clusters/local/bucket.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: Bucketz\nmetadata:\n  name: b\n",
    )
    (finding,) = failing(run(repo))
    assert finding.where() == "clusters/local/bucket.yaml:2"
    assert "not a kind kidp (or Flux) serves" in finding.message


def test_an_ocirepository_is_served_and_checked(repo: Path) -> None:
    write(
        repo,
        "clusters/local/oci.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\n"
        "metadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n"
        "  interval: 5m\n  url: oci://ghcr.io/stefanprodan/manifests/podinfo\n"
        "  ref:\n    semver: '>=6.0.0'\n  layerSelector:\n    operation: unpack\n",
    )
    found = run(repo).sorted()
    problems = [(f.severity, f.message) for f in found if f.object.startswith("OCIRepository")]
    assert problems == [
        (
            "warning",
            "source.toolkit.fluxcd.io/v1beta2 is deprecated: use source.toolkit.fluxcd.io/v1"
            " (`kidp migrate -f PATH` rewrites it)",
        ),
        ("error", "spec.layerSelector.operation: Input should be 'extract' or 'copy'"),
    ]


def test_a_patch_file_is_checked_as_a_fragment(repo: Path) -> None:
    # A strategic-merge patch of a HelmRelease lacks required fields on purpose.
    write(
        repo,
        "releases/replicas-patch.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
        "  name: kidp-operators\n  namespace: kidp-system\nspec:\n  values:\n"
        "    replicaCount: 1\n",
    )
    replace(
        repo,
        "releases/kustomization.yaml",
        "  - operators.yaml\n",
        "  - operators.yaml\npatches:\n  - path: replicas-patch.yaml\n",
    )
    assert failing(run(repo)) == []

    # A patch's storageNamespace is compared with the built object's, not the patch's.
    replace(
        repo, "releases/replicas-patch.yaml", "  values:", "  storageNamespace: apps\n  values:"
    )
    assert failing(run(repo)) == []

    replace(repo, "releases/replicas-patch.yaml", "  values:", "  suspend: sometimes\n  values:")
    (finding,) = failing(run(repo))
    assert finding.file == "releases/replicas-patch.yaml"
    assert finding.message == "spec.suspend: Input should be a valid boolean"


def test_a_deprecated_version_is_a_warning(repo: Path) -> None:
    write(
        repo,
        "clusters/local/provider.yaml",
        "apiVersion: notification.toolkit.fluxcd.io/v1beta2\nkind: Provider\nmetadata:\n"
        "  name: slack\n  namespace: flux-system\nspec:\n  type: generic\n"
        "  address: https://hooks.example.com/x\n",
    )
    report = run(repo)
    assert failing(report) == []
    (warning,) = [f for f in report.findings if f.severity == "warning"]
    assert warning.where() == "clusters/local/provider.yaml:1"
    assert warning.message.startswith("notification.toolkit.fluxcd.io/v1beta2 is deprecated")
    assert not report.failed(strict=False)
    assert report.failed(strict=True)


def test_a_field_the_engine_refuses_is_an_error(repo: Path) -> None:
    """What the controllers would refuse (Stalled, UnsupportedField) fails here first."""
    replace(
        repo,
        CLUSTER,
        "  path: ./policies\n",
        "  path: ./policies\n  buildMetadata:\n    - originAnnotations\n",
    )
    replace(
        repo,
        "releases/operators.yaml",
        "      chart: ./charts/operators\n",
        "      chart: ./charts/operators\n      verify:\n        provider: cosign\n",
    )
    found = failing(run(repo))
    assert [(f.where(), f.object, f.message.partition(" is set")[0]) for f in found] == [
        (
            f"{CLUSTER}:{line_of(repo, CLUSTER, 'buildMetadata')}",
            "Kustomization/flux-system/policies",
            "spec.buildMetadata",
        ),
        (
            f"releases/operators.yaml:{line_of(repo, 'releases/operators.yaml', 'verify')}",
            "HelmRelease/kidp-system/kidp-operators",
            "spec.chart.spec.verify",
        ),
    ]
    assert all("kidp-gitops does not support it" in f.message for f in found)


def test_a_cloud_providers_workload_identity_is_an_error(repo: Path) -> None:
    """The engine stalls a Kustomization or HelmRelease whose kubeConfig ConfigMap names
    a cloud provider (aws, azure, gcp): when the repository holds that ConfigMap,
    validate says so at its provider; `generic` with its address passes."""
    configmaps = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
        "  namespace: {namespace}\ndata:\n{data}"
    )
    write(
        repo,
        "clusters/local/remote.yaml",
        configmaps.format(
            name="eks",
            namespace="flux-system",
            data="  provider: aws\n  cluster: arn:aws:eks:eu-central-1:1:cluster/c\n",
        )
        + "\n---\n"
        + configmaps.format(
            name="fleet",
            namespace="kidp-system",
            data="  provider: generic\n  address: https://fleet.example.com\n",
        ),
    )
    replace(
        repo,
        CLUSTER,
        "  path: ./policies\n",
        "  path: ./policies\n  kubeConfig:\n    configMapRef:\n      name: eks\n",
    )
    replace(
        repo,
        "releases/operators.yaml",
        "  interval: 10m\n",
        "  interval: 10m\n  kubeConfig:\n    configMapRef:\n      name: fleet\n",
    )
    found = failing(run(repo))
    assert [(f.where(), f.object) for f in found] == [
        (
            f"clusters/local/remote.yaml:{line_of(repo, 'clusters/local/remote.yaml', 'aws')}",
            "Kustomization/flux-system/policies",
        )
    ]
    assert found[0].message.startswith(
        "kubeConfig ConfigMap 'flux-system/eks' sets provider 'aws': workload identity of a "
        "cloud provider (aws, azure, gcp) is not implemented"
    )


def test_a_cel_expression_that_does_not_compile_is_an_error(repo: Path) -> None:
    """The controller would stall the object (InvalidCELExpression): validate says so at
    the expression's line, and accepts one that compiles."""
    replace(
        repo,
        CLUSTER,
        "  path: ./teams\n",
        "  path: ./teams\n"
        "  healthCheckExprs:\n"
        "    - apiVersion: example.com/v1\n"
        "      kind: Thing\n"
        "      current: status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')\n"
        "      failed: status.phase ==\n",
    )
    replace(
        repo,
        CLUSTER,
        "    - name: teams\n",
        "    - name: teams\n      readyExpr: dep.metadata.name\n",
    )
    found = failing(run(repo))
    assert [(f.where(), f.object) for f in found] == [
        (f"{CLUSTER}:{line_of(repo, CLUSTER, 'failed:')}", "Kustomization/flux-system/teams"),
        (f"{CLUSTER}:{line_of(repo, CLUSTER, 'readyExpr')}", "Kustomization/flux-system/policies"),
    ]
    assert found[0].message.startswith(
        "spec.healthCheckExprs[0].failed: invalid CEL expression: ERROR: <input>:1:16: Syntax error"
    )
    assert found[1].message == (
        "spec.dependsOn[0].readyExpr: invalid CEL expression: the expression must return a "
        "bool, not DYN"
    )
