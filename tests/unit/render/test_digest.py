"""digest() changes exactly when a build's inputs change."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from kidp_gitops.render import build, errors, inputs, kustomization
from kidp_gitops.render.build import CommonMetadata, Image, Overlay
from tests.unit.render.layout import write

PRODUCTION = "infrastructure/overlays/production"


def digest(root: Path, path: str = PRODUCTION, overlay: Overlay | None = None) -> str:
    return build.digest(root, path, overlay or Overlay())


def test_stable_and_shaped(repo: Path) -> None:
    first = digest(repo)
    assert first == digest(repo)
    assert first.startswith("sha256:")
    assert len(first) == len("sha256:") + 64


def test_a_copy_of_the_artifact_elsewhere_has_the_same_digest(repo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(repo, copy)
    assert digest(copy) == digest(repo)


@pytest.mark.parametrize(
    "changed",
    [
        "infrastructure/overlays/production/replicas.yaml",
        "infrastructure/overlays/production/kustomization.yaml",
        "infrastructure/base/operators/operator.yaml",
        "infrastructure/base/crds/kustomization.yaml",
    ],
)
def test_changes_when_a_file_the_build_reads_changes(repo: Path, changed: str) -> None:
    before = digest(repo)
    with (repo / changed).open("a") as f:
        f.write("\n# changed\n")
    assert digest(repo) != before


@pytest.mark.parametrize(
    "unrelated",
    [
        "teams/team-backend/applications/api.yaml",
        "policies/pod-security.yaml",
        "infrastructure/overlays/staging/kustomization.yaml",
        "infrastructure/base/operators/README.md",
        "charts/operators/values.yaml",
    ],
)
def test_ignores_files_the_build_does_not_read(repo: Path, unrelated: str) -> None:
    before = digest(repo)
    write(repo, unrelated, "# something new\n")
    assert digest(repo) == before


def test_changes_with_the_overlay_and_the_path(repo: Path) -> None:
    plain = digest(repo)
    variants = {
        digest(repo, overlay=Overlay(target_namespace="a")),
        digest(repo, overlay=Overlay(target_namespace="b")),
        digest(repo, overlay=Overlay(images=[Image(name="x", new_tag="1")])),
        digest(repo, overlay=Overlay(common_metadata=CommonMetadata(labels={"a": "b"}))),
        digest(repo, "infrastructure/overlays/staging"),
        plain,
    }
    assert len(variants) == 6


def test_generated_directory_tracks_new_and_changed_yaml(repo: Path) -> None:
    before = digest(repo, "policies")
    write(repo, "policies/limits.yaml", "apiVersion: v1\nkind: LimitRange\nmetadata: {name: l}\n")
    added = digest(repo, "policies")
    assert added != before
    write(repo, "policies/.sops.yaml", "creation_rules: []\n")  # read to be classified
    classified = digest(repo, "policies")
    assert classified != added
    write(repo, "policies/notes.txt", "not read\n")
    assert digest(repo, "policies") == classified


def test_a_missing_reference_appearing_changes_the_digest(repo: Path) -> None:
    write(repo, "apps/kustomization.yaml", "resources: [later.yaml]\n")
    before = digest(repo, "apps")
    write(repo, "apps/later.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: l}\n")
    assert digest(repo, "apps") != before


def test_a_second_kustomization_file_changes_the_digest(repo: Path) -> None:
    before = digest(repo)
    write(repo, "infrastructure/base/brokers/kustomization.yml", "resources: []\n")
    assert digest(repo) != before


def test_remote_references_are_named(repo: Path) -> None:
    write(repo, "apps/kustomization.yaml", "resources:\n- https://example.com/a.yaml\n")
    first = digest(repo, "apps")
    write(repo, "apps/kustomization.yaml", "resources:\n- https://example.com/b.yaml\n")
    assert digest(repo, "apps") != first


def test_refuses_what_build_refuses(repo: Path) -> None:
    with pytest.raises(errors.PathEscape):
        digest(repo, "../")
    with pytest.raises(errors.PathNotFound):
        digest(repo, "nowhere")


def test_inputs_of_the_production_overlay(repo: Path) -> None:
    root = repo.resolve()
    directory = root / PRODUCTION
    rendered = kustomization.render(directory, Overlay(), root)
    assert not rendered.written
    found = inputs.collect(
        root, directory, yaml.safe_load(rendered.text), "production", allow_remote=False
    )
    assert sorted(inputs.relative(f, root) for f in found.files) == [
        "infrastructure/base/brokers/broker.yaml",
        "infrastructure/base/brokers/kustomization.yaml",
        "infrastructure/base/crds/brokers.yaml",
        "infrastructure/base/crds/kustomization.yaml",
        "infrastructure/base/operators/kustomization.yaml",
        "infrastructure/base/operators/operator.yaml",
        "infrastructure/overlays/production/replicas.yaml",
    ]
    assert not found.missing
    assert not found.remote


def test_symlinked_directory_inside_the_root_counts_once(repo: Path) -> None:
    os.symlink(repo / "infrastructure/base/brokers", repo / "infrastructure/base/brokers-link")
    write(
        repo,
        "apps/kustomization.yaml",
        "resources: [../infrastructure/base/brokers, ../infrastructure/base/brokers-link]\n",
    )
    root = repo.resolve()
    found = inputs.collect(
        root,
        root / "apps",
        yaml.safe_load((repo / "apps/kustomization.yaml").read_text()),
        "apps",
        allow_remote=False,
    )
    assert root / "infrastructure/base/brokers" in found.directories
    assert root / "infrastructure/base/brokers-link" not in found.directories
