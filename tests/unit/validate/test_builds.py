"""Each Kustomization of the repository is built as the controller builds it."""

from __future__ import annotations

from pathlib import Path

from tests.unit.validate.conftest import failing, replace, run, write

CLUSTER = "clusters/local/kustomizations.yaml"


def test_a_broken_kustomization_fails_its_build(repo: Path) -> None:
    replace(repo, "infrastructure/kustomization.yaml", "  - base/brokers", "  - base/missing")
    (finding,) = failing(run(repo))
    assert finding.check == "build"
    assert finding.file == CLUSTER
    assert finding.object == "Kustomization/flux-system/infrastructure"
    assert finding.message.startswith("build failed:")
    assert "base/missing" in finding.message


def test_inline_substitution_applies_before_the_schema_check(repo: Path) -> None:
    replace(repo, "infrastructure/base/brokers/broker.yaml", "replicas: 1", "replicas: ${n}")
    replace(
        repo,
        CLUSTER,
        "  path: ./infrastructure\n",
        '  path: ./infrastructure\n  postBuild:\n    substitute:\n      n: "2"\n',
    )
    assert run(repo).sorted() == []

    replace(repo, CLUSTER, 'n: "2"', 'n: "two"')
    (finding,) = failing(run(repo))
    assert finding.message == "spec.replicas: expected integer, found string"


def test_variables_from_substitute_from_are_a_warning_not_a_crash(repo: Path) -> None:
    replace(repo, "infrastructure/base/brokers/broker.yaml", "replicas: 1", "replicas: ${n}")
    replace(
        repo,
        CLUSTER,
        "  path: ./infrastructure\n",
        "  path: ./infrastructure\n  postBuild:\n    substituteFrom:\n"
        "      - kind: ConfigMap\n        name: cluster-vars\n",
    )
    report = run(repo)
    assert failing(report) == []  # `${n}` is not a type error: its value is unknown here
    (warning,) = [f for f in report.findings if f.severity == "warning"]
    assert warning.file == CLUSTER
    assert "ConfigMap cluster-vars" in warning.message
    assert warning.message.endswith(": n")
    assert report.failed(strict=True)


def test_a_variable_set_nowhere_is_an_error(repo: Path) -> None:
    replace(repo, "infrastructure/base/brokers/broker.yaml", "replicas: 1", "replicas: ${n}")
    replace(
        repo,
        CLUSTER,
        "  path: ./infrastructure\n",
        "  path: ./infrastructure\n  postBuild:\n    substitute:\n      other: x\n",
    )
    (finding,) = failing(run(repo))
    assert "set nowhere" in finding.message
    assert finding.message.endswith(": n")


def test_without_flux_kustomizations_every_kustomization_directory_is_built(
    repo: Path,
) -> None:
    (repo / CLUSTER).unlink()
    report = run(repo)
    assert failing(report) == []
    assert "kustomization infrastructure/overlays/staging" in report.builds
    replace(
        repo,
        "infrastructure/overlays/staging/kustomization.yaml",
        "path: /spec/replicas",
        "path: /spec/nothing/here",
    )
    (finding,) = failing(run(repo))
    assert finding.object == "kustomization infrastructure/overlays/staging"
    assert finding.file == "infrastructure/overlays/staging/kustomization.yaml"


def test_kustomizations_of_other_repositories_are_skipped(repo: Path) -> None:
    write(
        repo,
        "clusters/local/apps.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        "  name: apps\n  namespace: flux-system\nspec:\n  interval: 5m\n  path: ./apps\n"
        "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: apps-repo\n",
    )
    report = run(repo)
    assert failing(report) == []
    (skipped,) = [f for f in report.findings if f.severity == "skipped"]
    assert skipped.object == "Kustomization/flux-system/apps"
    # Naming this repository's GitRepository makes the others plain skips and the
    # missing path of one of ours an error.
    report = run(repo, sources=("kidp-infrastructure", "apps-repo"))
    (finding,) = failing(report)
    assert finding.message == "spec.path './apps' is not a directory of this repository"


def test_an_object_built_by_two_kustomizations_is_a_duplicate(repo: Path) -> None:
    write(
        repo,
        "clusters/local/extra.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        "  name: brokers\n  namespace: flux-system\nspec:\n  interval: 5m\n"
        "  path: ./infrastructure/base/brokers\n  prune: true\n  sourceRef:\n"
        "    kind: GitRepository\n    name: kidp-infrastructure\n",
    )
    (finding,) = failing(run(repo))
    assert finding.check == "duplicate"
    assert finding.object == "Broker/kidp-system/events"
    assert "Kustomization/flux-system/infrastructure" in finding.message
    assert "Kustomization/flux-system/brokers" in finding.message


def test_a_remote_base_is_skipped_offline(repo: Path) -> None:
    replace(
        repo,
        "infrastructure/kustomization.yaml",
        "  - base/brokers\n",
        "  - base/brokers\n  - https://github.com/example/platform//base?ref=v1.0.0\n",
    )
    report = run(repo)
    assert failing(report) == []
    (skipped,) = [f for f in report.findings if f.severity == "skipped"]
    assert skipped.object == "Kustomization/flux-system/infrastructure"
    assert skipped.message.startswith("not built offline:")
