"""The post-renderers: their digest, and what they make of helm's output (the real
kustomize)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kidp_gitops.api import helm as api
from kidp_gitops.helm import postrender
from kidp_gitops.proc import sandbox

MANIFESTS = """\
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    postrenderer.helm.sh/postrender-filename: web/templates/deployment.yaml
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.0
          env:
            - {name: FLAG, value: "on"}
"""


def spec(post_renderers: list[dict[str, Any]]) -> api.HelmReleaseSpec:
    chart = {"spec": {"chart": "c", "sourceRef": {"kind": "GitRepository", "name": "g"}}}
    return api.HelmReleaseSpec.model_validate({"chart": chart, "postRenderers": post_renderers})


def test_the_digest_follows_the_post_renderers() -> None:
    assert postrender.digest(spec([])) is None
    one = postrender.digest(spec([{"kustomize": {"images": [{"name": "a", "newTag": "1"}]}}]))
    two = postrender.digest(spec([{"kustomize": {"images": [{"name": "a", "newTag": "2"}]}}]))
    assert one is not None
    assert one.startswith("sha256:")
    assert one != two


def test_the_digest_is_helm_controllers() -> None:
    """The vector: Go's encoding/json over helm-controller's PostRenderer types (the
    structs of api/v2 and fluxcd/pkg apis/kustomize), sha256, computed with go run."""
    renderers = [
        {
            "kustomize": {
                "images": [{"name": "nginx", "newTag": "2.0"}],
                "patches": [
                    {
                        "target": {"kind": "Deployment", "name": "web", "labelSelector": "a=b"},
                        "patch": '- op: add\n  path: /metadata/labels/x\n  value: "<&>"\n',
                    },
                    {
                        "patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
                        "target": {},
                    },
                ],
            }
        },
        {},
    ]
    assert postrender.digest(spec(renderers)) == (
        "sha256:7d92519f606890d2a02f39e6e4b5178d1ebf278bf4740acc390fa3ae77367374"
    )


def test_post_renderers_apply_in_order_and_keep_helms_annotation() -> None:
    renderers = spec(
        [
            {
                "kustomize": {
                    "patches": [
                        {
                            "target": {"kind": "Deployment"},
                            "patch": "- op: add\n  path: /metadata/labels\n  value: {tier: a}\n",
                        }
                    ],
                    "images": [{"name": "nginx", "newTag": "2.0"}],
                }
            },
            {
                "kustomize": {
                    "patchesStrategicMerge": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "metadata": {"name": "web"},
                            "spec": {"replicas": 4},
                        }
                    ],
                    "patchesJson6902": [
                        {
                            "target": {"kind": "Deployment", "name": "web"},
                            "patch": [
                                {"op": "replace", "path": "/metadata/labels/tier", "value": "b"}
                            ],
                        }
                    ],
                }
            },
        ]
    ).post_renderers
    (out,) = yaml.safe_load_all(postrender.render(MANIFESTS, renderers))
    assert out["metadata"]["labels"] == {"tier": "b"}
    assert out["spec"]["replicas"] == 4
    container = out["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:2.0"
    assert container["env"] == [{"name": "FLAG", "value": "on"}]  # still a string
    annotations = out["metadata"]["annotations"]
    assert (
        annotations["postrenderer.helm.sh/postrender-filename"] == "web/templates/deployment.yaml"
    )


def test_a_failing_post_renderer_leaves_its_words_for_the_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, scratch = tmp_path / "home", tmp_path / "scratch"
    scratch.mkdir()
    bad = [{"kustomize": {"patches": [{"patch": "- op: remove\n  path: /nowhere\n"}]}}]
    flags = postrender.prepare(home, scratch, spec(bad))
    assert flags[:2] == ["--post-renderer", postrender.NAME]
    assert (home / "data" / "plugins" / postrender.NAME / "plugin.yaml").is_file()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MANIFESTS.encode())))
    assert postrender.main([flags[3]]) == 1
    said = postrender.failure(scratch)
    assert said is not None
    assert said.startswith("post-renderer failed:")


def test_the_engines_build_limits_reach_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The plugin is a process of its own: the limits of `--build-*` travel in the file
    # the engine writes, and bound what it reads from helm.
    home, scratch = tmp_path / "home", tmp_path / "scratch"
    scratch.mkdir()
    images = [{"kustomize": {"images": [{"name": "nginx", "newTag": "1.27"}]}}]
    previous = sandbox.configure(sandbox.Limits(file_size=100))
    try:
        flags = postrender.prepare(home, scratch, spec(images))
    finally:
        sandbox.configure(previous)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MANIFESTS.encode())))
    try:
        assert postrender.main([flags[3]]) == 1
    finally:
        sandbox.configure(previous)
    said = postrender.failure(scratch)
    assert said is not None
    assert "more than 100 bytes (--build-file-size-limit)" in said
