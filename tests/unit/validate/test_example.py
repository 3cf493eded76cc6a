"""The example repository is what users copy: it must validate clean."""

from __future__ import annotations

from pathlib import Path

from tests.unit.validate.conftest import EXAMPLE, run


def test_the_example_repository_is_valid() -> None:
    report = run(EXAMPLE)
    assert report.sorted() == []
    assert not report.failed(strict=True)
    assert report.builds == [
        "Kustomization/flux-system/infrastructure",
        "Kustomization/flux-system/teams",
        "Kustomization/flux-system/policies",
        "Kustomization/flux-system/releases",
    ]
    assert report.objects >= 15


def test_chart_templates_are_not_read_as_manifests(repo: Path) -> None:
    # Helm templates are not YAML until rendered; a broken one is Helm's business.
    (repo / "charts" / "operators" / "templates" / "broken.yaml").write_text(
        "{{- if .Values.x }}\nkind: [\n{{- end }}\n"
    )
    assert run(repo).sorted() == []
