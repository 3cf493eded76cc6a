"""`kidp install --export` built by kustomize with patches as Flux's guides write them."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.render import runner

# Flux's multi-tenancy lockdown, as its guide writes it (flux-system/kustomization.yaml).
LOCKDOWN = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml
patches:
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/0
        value: --no-cross-namespace-refs=true
    target:
      kind: Deployment
      name: "(kustomize-controller|helm-controller|notification-controller|image-reflector-controller|image-automation-controller)"
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --no-remote-bases=true
    target:
      kind: Deployment
      name: "kustomize-controller"
  - patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/0
        value: --default-service-account=default
    target:
      kind: Deployment
      name: "(kustomize-controller|helm-controller)"
"""  # noqa: E501 (the guide's target, one line)


PLAIN = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml
"""


def deployments(directory: Path, kustomization: str, *flags: str) -> dict[str, dict[str, Any]]:
    """The Deployments of `kidp install --export FLAGS` (as gotk-components.yaml) built
    with `kustomization` in `directory`, by name."""
    exported = CliRunner().invoke(app, ["install", "--export", *flags])
    assert exported.exit_code == 0, exported.output
    (directory / "gotk-components.yaml").write_text(exported.output)
    (directory / "kustomization.yaml").write_text(kustomization)
    built = subprocess.run(
        [*runner.command(), str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return {
        d["metadata"]["name"]: d
        for d in yaml.load_all(built, Loader=yaml.CSafeLoader)
        if d and d["kind"] == "Deployment"
    }
