"""What `kidp bootstrap` writes over a repository's own flux-system/kustomization.yaml:
the platform team's file stays, patches and comments included; only the two resources
bootstrap needs are added when missing."""

from __future__ import annotations

import pytest
import yaml

from kidp_gitops.cli.bootstrap import keep_kustomization
from kidp_gitops.cli.errors import CliError

WITH_PATCHES = """\
# Lockdown for this cluster: keep it.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml
  - gotk-sync.yaml
patches:
  - patch: |
      - op: add
        path: /spec/serviceAccountName
        value: kustomize-controller
    target:
      kind: Kustomization
      name: flux-system
"""


def test_a_complete_file_is_left_untouched() -> None:
    assert keep_kustomization(WITH_PATCHES, "f") is None


def test_missing_resources_are_added_and_the_patches_kept() -> None:
    lacking = WITH_PATCHES.replace("  - gotk-sync.yaml\n", "  - extra.yaml\n")
    kept = keep_kustomization(lacking, "f")
    assert kept is not None
    doc = yaml.safe_load(kept)
    assert doc["resources"] == ["gotk-components.yaml", "extra.yaml", "gotk-sync.yaml"]
    assert doc["patches"] == yaml.safe_load(WITH_PATCHES)["patches"]


def test_a_file_without_resources_gets_both() -> None:
    kept = keep_kustomization("apiVersion: kustomize.config.k8s.io/v1beta1\n", "f")
    assert kept is not None
    assert yaml.safe_load(kept)["resources"] == ["gotk-components.yaml", "gotk-sync.yaml"]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [("- a\n- b\n", "not a kustomization"), ("resources: x\n", "not a list"), ("a: [\n", "YAML")],
)
def test_what_is_not_a_kustomization_stops_bootstrap(text: str, complaint: str) -> None:
    with pytest.raises(CliError, match=complaint):
        keep_kustomization(text, "clusters/dev/flux-system/kustomization.yaml")
