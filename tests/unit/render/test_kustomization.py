"""The kustomization text a build runs: generated, amended, or the file itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from kidp_gitops.render import errors, kustomization, runner
from kidp_gitops.render.overlay import Image, Overlay, Patch, PatchTarget
from tests.unit.render.layout import write


def render(directory: Path, overlay: Overlay | None = None) -> kustomization.Rendered:
    return kustomization.render(directory, overlay or Overlay(), directory.resolve())


def test_unchanged_file_is_used_as_it_is(tmp_path: Path) -> None:
    write(tmp_path, "kustomization.yaml", "resources: [a.yaml]\n")
    rendered = render(tmp_path)
    assert not rendered.written
    assert rendered.text == "resources: [a.yaml]\n"
    assert rendered.source == tmp_path / "kustomization.yaml"


def test_generated_file_looks_like_fluxs(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    write(tmp_path, "a/c.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert render(tmp_path).text == (
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources:\n"
        "- ./a/c.yml\n"
        "- ./b.yaml\n"
    )


def test_amending_keeps_every_spelling(tmp_path: Path) -> None:
    write(
        tmp_path,
        "kustomization.yaml",
        """
        # a comment that is dropped
        resources: [a.yaml]
        namePrefix: old-
        images:
          - name: app
            newTag: "1.20"
          - name: db
            newTag: 1.20
        labels:
          - pairs: &common {tier: backend}
        commonAnnotations: *common
        patches:
          - path: p.yaml
        """,
    )
    overlay = Overlay(
        target_namespace="ns",
        name_prefix="new-",
        name_suffix="-x",
        images=[Image(name="app", new_name="registry/app"), Image(name="cache", new_tag="7")],
        patches=[Patch("- op: remove\n  path: /spec\n", PatchTarget(kind="Service", name="s"))],
        components=["../c"],
    )
    text = render(tmp_path, overlay).text
    assert "newTag: 1.20\n" in text  # the user's unquoted 1.20 stays as written
    doc = yaml.load(text, Loader=yaml.BaseLoader)
    assert doc["namespace"] == "ns"
    assert doc["namePrefix"] == "new-"
    assert doc["nameSuffix"] == "-x"
    assert doc["images"] == [
        {"name": "app", "newName": "registry/app"},
        {"name": "db", "newTag": "1.20"},
        {"name": "cache", "newTag": "7"},
    ]
    assert doc["patches"] == [
        {"path": "p.yaml"},
        {"patch": "- op: remove\n  path: /spec\n", "target": {"kind": "Service", "name": "s"}},
    ]
    assert doc["components"] == ["../c"]
    assert doc["commonAnnotations"] == doc["labels"][0]["pairs"] == {"tier": "backend"}


def test_an_empty_kustomization_gets_an_empty_resource_list(tmp_path: Path) -> None:
    write(tmp_path, "kustomization.yaml", "kind: Kustomization\n")
    text = render(tmp_path).text
    assert yaml.safe_load(text) == {"kind": "Kustomization", "resources": []}


@pytest.mark.parametrize("content", ["- a.yaml\n", "just text\n"])
def test_a_kustomization_must_be_a_mapping(tmp_path: Path, content: str) -> None:
    write(tmp_path, "kustomization.yaml", content)
    with pytest.raises(errors.InvalidKustomization, match="must be a YAML mapping"):
        render(tmp_path, Overlay(target_namespace="x"))


def test_a_list_field_must_be_a_list(tmp_path: Path) -> None:
    write(tmp_path, "kustomization.yaml", "resources: []\nimages: nope\n")
    with pytest.raises(errors.InvalidKustomization, match="'images' must be a list"):
        render(tmp_path, Overlay(images=[Image(name="a", new_tag="b")]))


@pytest.mark.parametrize(
    ("entry", "remote"),
    [
        ("https://github.com/org/repo//base", True),
        ("http://example.com/a.yaml", True),
        ("git::https://example.com/r.git", True),
        ("git@github.com:org/repo", True),
        ("ssh://git@host/org/repo", True),
        ("github.com/org/repo", True),
        ("file:///etc", True),
        ("../base", False),
        ("base/github.com", False),
        ("a.yaml", False),
        ("user@host/dir", False),
    ],
)
def test_remote_entries(entry: str, remote: bool) -> None:
    assert kustomization.is_remote(entry) is remote


def test_kubectl_next_to_the_interpreter_is_preferred() -> None:
    argv = runner.command()
    assert argv[1] == "kustomize"
    assert Path(argv[0]).parent == Path(sys.executable).parent
