"""Plain manifests read in process give exactly what kustomize gives, without a process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.render import build, direct, kustomization, runner
from kidp_gitops.render.build import CommonMetadata, Overlay
from tests.unit.render.layout import kustomize, names, write

TRICKY = {
    "a-multi.yaml": """
        # leading comment
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: zeta, namespace: apps}
        data:
          yes: yes
          on: "on"
          time: 12:30
          octal: "0755"
          version: "1.20"
          empty: ""
          nothing: null
          unicode: "héllo ✓"
          script: |
            #!/bin/sh
            echo "${HOME}"
        ---
        ---
        # only a comment
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: creds, namespace: apps}
        stringData: {password: "s3cr3t"}
        """,
    "b-numbers.yaml": """
        apiVersion: example.com/v1
        kind: Widget
        metadata:
          name: numbers
          labels: {}
        spec:
          float: 1.0
          half: 0.5
          exp: 1e3
          big: 12345678901234567890
          negative: -42
          plus: +7
          under: 1_000
          octal: 0755
          hex: 0x1F
          bools: [true, false, True, yes, no, on, off, y, n]
          nulls: [~, null, Null]
          nested: {list: [1, "2", {deep: [a, b]}]}
          empty_map: {}
          empty_list: []
        """,
    "c-lists.yaml": """
        apiVersion: v1
        kind: List
        items:
          - apiVersion: v1
            kind: Service
            metadata: {name: from-list, namespace: apps}
            spec: {ports: [{port: 80}]}
          - apiVersion: v1
            kind: ConfigMapList
            items:
              - apiVersion: v1
                kind: ConfigMap
                metadata: {name: nested-list, namespace: apps}
        ---
        apiVersion: v1
        kind: List
        items: []
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: apps}
        spec:
          replicas: 2
          template:
            metadata: {creationTimestamp: null, labels: {app: web}}
            spec:
              containers: [{name: web, image: "nginx:1.27", args: ["--port=8080"]}]
        """,
    "sub/d.yml": """
        apiVersion: admissionregistration.k8s.io/v1
        kind: ValidatingWebhookConfiguration
        metadata: {name: hook}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: apps}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRole
        metadata: {name: reader}
        rules: []
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: alpha}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: alpha, namespace: other}
        """,
    "sub/deeper/e.yaml": """
        apiVersion: z.example.com/v1alpha1
        kind: Gadget
        metadata: {name: g}
        ---
        apiVersion: a.example.com/v1
        kind: Gadget
        metadata: {name: g}
        """,
    "sub/.hidden/f.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: hidden}\n",
    "values.yaml": "replicaCount: 3\nimage: {tag: v1}\n",
    ".sops.yaml": "creation_rules: [{path_regex: .*.yaml}]\n",
    ".gitlab-ci.yml": "defaults: &d {image: alpine}\ntest:\n  <<: *d\n  script: [make]\n",
    "README.md": "# not yaml\n",
}


def plain_directory(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        write(root, rel, text)
    return root


def with_kustomize(directory: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """The real kustomize over a copy of the directory with the generated kustomization."""
    rendered = kustomization.render(directory, Overlay(), directory.resolve())
    copy = tmp_path / "kustomize-copy"
    shutil.copytree(directory, copy, symlinks=True)
    (copy / "kustomization.yaml").write_text(rendered.text)
    return kustomize(copy)


def no_process(*_: object, **__: object) -> str:
    """A kustomize that must not run."""
    raise AssertionError("kustomize was started")


def test_direct_read_equals_kustomize(tmp_path: Path) -> None:
    directory = plain_directory(tmp_path / "plain", TRICKY)
    expected = with_kustomize(directory, tmp_path)
    got = build.build(
        tmp_path / "plain", ".", Overlay(), allow_remote_bases=False, kustomize=no_process
    )
    assert got == expected
    # same order, and same types too (1 and 1.0, True and 1 compare equal in Python)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_direct_read_of_the_prd_policies(repo: Path, tmp_path: Path) -> None:
    scan = kustomization.scan(repo / "policies", repo.resolve())
    assert direct.read(scan, repo.resolve() / "policies", repo.resolve()) == with_kustomize(
        repo / "policies", tmp_path
    )


def test_common_metadata_on_the_direct_path(tmp_path: Path) -> None:
    directory = plain_directory(tmp_path / "plain", TRICKY)
    expected = with_kustomize(directory, tmp_path)
    overlay = Overlay(common_metadata=CommonMetadata(labels={"team": "a"}, annotations={"x": "y"}))
    got = build.build(directory, ".", overlay, allow_remote_bases=False, kustomize=no_process)
    for obj, plain in zip(got, expected, strict=True):
        assert obj["metadata"]["labels"] == {**plain["metadata"].get("labels", {}), "team": "a"}
        assert obj["metadata"]["annotations"] == {"x": "y"}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "dates.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {when: 2024-01-01}\n",
        ),
        (
            "dupes.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n---\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: default}\n",
        ),
        (
            "anchors.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: &n d}\ndata: {a: *n}\n",
        ),
        ("nolist.yaml", "apiVersion: v1\nkind: List\n"),
        (
            "annotations.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\n  annotations:\n",
        ),
    ],
)
def test_unusual_files_go_to_kustomize(tmp_path: Path, name: str, text: str) -> None:
    directory = plain_directory(tmp_path / "plain", {name: text})
    scan = kustomization.scan(directory, directory.resolve())
    with pytest.raises(direct.NeedsKustomize):
        direct.read(scan, directory.resolve(), directory.resolve())
    calls: list[object] = []
    real_run = runner.run

    def spy(directory: Path, **kwargs: Any) -> str:
        calls.append(directory)
        return real_run(directory, **kwargs)

    try:
        got: list[dict[str, Any]] | None = build.build(
            directory, ".", Overlay(), allow_remote_bases=False, kustomize=spy
        )
    except build.BuildError:
        got = None
    assert calls, "kustomize decides what only kustomize can"
    if got is not None:
        assert got == with_kustomize(directory, tmp_path)


def test_subdirectory_kustomization_goes_to_kustomize(repo: Path) -> None:
    write(repo, "policies/team/kustomization.yaml", "resources: [q.yaml]\nnamePrefix: t-\n")
    write(repo, "policies/team/q.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: q}\n")
    objects = build.build(repo, "policies", Overlay(), allow_remote_bases=False)
    assert "ConfigMap/t-q" in names(objects)
