"""`kidp migrate -f`: old apiVersions of Flux kinds rewritten in place, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kidp_gitops.api import resources
from kidp_gitops.cli.main import app
from kidp_gitops.validate import migrate
from tests.unit.validate.conftest import EXAMPLE, failing, run, write

OLD = {
    "kustomize.toolkit.fluxcd.io/v1": "kustomize.toolkit.fluxcd.io/v1beta2",
    "helm.toolkit.fluxcd.io/v2": "helm.toolkit.fluxcd.io/v2beta1",
    "source.toolkit.fluxcd.io/v1": "source.toolkit.fluxcd.io/v1beta2",
}


def test_an_old_tree_migrates_back_to_the_example_byte_for_byte(repo: Path) -> None:
    """The example repository written with the versions of older Flux releases: validate
    fails naming `kidp migrate`; after it, the files are the example's again and pass."""
    aged = 0
    for path in repo.rglob("*.yaml"):
        text = path.read_text()
        for new, old in OLD.items():
            aged += text.count(f"apiVersion: {new}\n")
            text = text.replace(f"apiVersion: {new}\n", f"apiVersion: {old}\n")
        path.write_text(text)
    assert aged >= 5

    before = failing(run(repo))
    assert len(before) >= aged
    assert all("`kidp migrate -f PATH` rewrites it" in f.message for f in before), before

    result = CliRunner().invoke(app, ["migrate", "-f", str(repo)])
    assert result.exit_code == 0, result.output
    assert f"{aged} objects in" in result.stderr
    assert failing(run(repo)) == []
    for path in repo.rglob("*.yaml"):
        assert path.read_bytes() == (EXAMPLE / path.relative_to(repo)).read_bytes(), path


def test_comments_quotes_and_other_kinds_stay(tmp_path: Path) -> None:
    text = (
        "# the platform's sources\n"
        "apiVersion: 'source.toolkit.fluxcd.io/v1beta2'   # pinned by the old bootstrap\n"
        "kind: GitRepository\n"
        "metadata:\n"
        "  # same name as in Flux\n"
        "  name: platform\n"
        "spec:\n"
        "  interval: 1m\n"
        "  url: https://example.com/x\n"
        "---\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources: [a.yaml]\n"
        "---\n"
        "kind: Kustomization\n"
        "metadata: {name: apps}\n"
        'apiVersion: "kustomize.toolkit.fluxcd.io/v1beta1"\n'
        "spec:\n"
        "  sourceRef:\n"
        "    kind: GitRepository\n"
        "    apiVersion: source.toolkit.fluxcd.io/v1beta2\n"
    )
    new, changes = migrate.rewrite(text)
    assert changes == [
        (
            2,
            "GitRepository",
            "platform",
            "source.toolkit.fluxcd.io/v1beta2",
            "source.toolkit.fluxcd.io/v1",
        ),
        (
            17,
            "Kustomization",
            "",
            "kustomize.toolkit.fluxcd.io/v1beta1",
            "kustomize.toolkit.fluxcd.io/v1",
        ),
    ]
    expected = text.replace(
        "'source.toolkit.fluxcd.io/v1beta2'   #", "'source.toolkit.fluxcd.io/v1'   #"
    ).replace('"kustomize.toolkit.fluxcd.io/v1beta1"', '"kustomize.toolkit.fluxcd.io/v1"')
    assert new == expected  # kustomize's own Kustomization and the nested sourceRef stay


def test_versions_still_served_are_moved_to_the_storage_version() -> None:
    new, changes = migrate.rewrite(
        "apiVersion: image.toolkit.fluxcd.io/v1beta1\nkind: ImageUpdateAutomation\n"
        "---\napiVersion: notification.toolkit.fluxcd.io/v1beta1\nkind: Alert\n"
        "---\napiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\n"
        "---\napiVersion: example.com/v1beta1\nkind: Alert\n"
    )
    assert [c[4] for c in changes] == [
        "image.toolkit.fluxcd.io/v1",
        "notification.toolkit.fluxcd.io/v1beta3",
        "source.toolkit.fluxcd.io/v1",
    ]
    assert new.endswith("apiVersion: example.com/v1beta1\nkind: Alert\n")


def test_dry_run_extensions_and_what_is_not_read(tmp_path: Path) -> None:
    old = "apiVersion: helm.toolkit.fluxcd.io/v2beta2\nkind: HelmRelease\n"
    write(tmp_path, "apps/release.yaml", old)
    write(tmp_path, "chart/templates/release.tpl", "{{- if .Values.on }}\n" + old + "{{- end }}\n")
    write(tmp_path, ".git/release.yaml", old)
    (tmp_path / "apps/binary.yaml").write_bytes(b"\xff\xfe" + old.encode())
    (tmp_path / "apps/link.yaml").symlink_to(tmp_path / "apps/release.yaml")

    runner = CliRunner()
    dry = runner.invoke(app, ["migrate", "-f", str(tmp_path), "--dry-run", "-e", "yaml,.tpl"])
    assert dry.exit_code == 0, dry.output
    assert (
        dry.stdout.count("HelmRelease helm.toolkit.fluxcd.io/v2beta2 → helm.toolkit.fluxcd.io/v2")
        == 2
    )
    assert "binary.yaml: skipped, not UTF-8 text" in dry.stderr
    assert "2 objects in 2 files would be rewritten" in dry.stderr
    assert (tmp_path / "apps/release.yaml").read_text() == old

    done = runner.invoke(app, ["migrate", "-f", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "1 objects in 1 files rewritten" in done.stderr  # .tpl only when asked
    assert "helm.toolkit.fluxcd.io/v2\n" in (tmp_path / "apps/release.yaml").read_text()
    assert (tmp_path / ".git/release.yaml").read_text() == old


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["migrate", "-f", str(tmp_path / "nowhere")])
    assert result.exit_code == 2


def test_an_old_external_artifact_names_migrate(repo: Path) -> None:
    write(
        repo,
        "clusters/local/artifact.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: ExternalArtifact\nmetadata:\n"
        "  name: manifests\n  namespace: flux-system\nspec: {}\n",
    )
    (finding,) = failing(run(repo))
    assert finding.message == (
        "source.toolkit.fluxcd.io/v1beta2 is no longer served for ExternalArtifact: use"
        " source.toolkit.fluxcd.io/v1 (`kidp migrate -f PATH` rewrites it)"
    )


def test_a_kind_flux_serves_and_kidp_not_yet_is_named_so(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every kind of Flux 2.9 is served today; the rule stays for the next one Flux adds.
    monkeypatch.setitem(resources.FLUX_ONLY, (resources.SOURCE_GROUP, "Nonesuch"), "v1")
    write(
        repo,
        "clusters/local/nonesuch.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: Nonesuch\nmetadata:\n"
        "  name: manifests\n  namespace: flux-system\nspec: {}\n",
    )
    (finding,) = failing(run(repo))
    assert finding.message == (
        "source.toolkit.fluxcd.io/v1beta2 Nonesuch is served by Flux but not (yet) by"
        " kidp; Flux serves it as source.toolkit.fluxcd.io/v1 (`kidp migrate -f PATH` rewrites it)"
    )


def test_an_old_bucket_is_served_with_a_deprecation_warning_naming_migrate(repo: Path) -> None:
    write(
        repo,
        "clusters/local/bucket.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: Bucket\nmetadata:\n"
        "  name: manifests\n  namespace: flux-system\nspec:\n  interval: 5m\n"
        "  bucketName: manifests\n  endpoint: minio.example:9000\n  provider: gcp\n",
    )
    report = run(repo)
    (warning,) = [f for f in report.sorted() if f.severity == "warning"]
    assert warning.file == "clusters/local/bucket.yaml"
    assert "source.toolkit.fluxcd.io/v1beta2 is deprecated: use source.toolkit.fluxcd.io/v1" in (
        warning.message
    )
    # A provider kidp does not implement is refused here as the engine refuses it.
    (refused,) = failing(report)
    assert refused.message.startswith("spec.provider is set, but kidp-gitops does not support")


def test_flux_only_kinds_are_not_served_by_kidp() -> None:
    from kidp_gitops.api import resources

    served = {(info.group, info.kind) for info in resources.ALL}
    assert served.isdisjoint(resources.FLUX_ONLY)
