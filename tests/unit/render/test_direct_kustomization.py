"""Kustomizations that only list local resources are built in process, and every layout
gives exactly what the real kustomize gives: the same objects in the same order with the
same types, or the same error.

Each case builds a path twice: once as the engine does (in process when it can), once with
the in-process reader switched off, so kustomize builds it. The case also says which of
the two the engine must have used."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.render import build, direct, runner
from kidp_gitops.render.build import Overlay
from tests.unit.render.layout import kustomize, prd_repository, write
from tests.unit.render.test_direct import TRICKY

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "kidp-infrastructure"

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n"


def tricky(root: Path) -> Path:
    """Every awkward file of test_direct, listed through three levels of kustomizations
    spelt in every way kustomize accepts, plus a file reached with `..` and a JSON file."""
    for rel, text in TRICKY.items():
        write(root, f"tricky/{rel}", text)
    write(
        root,
        "tricky/kustomization.yaml",
        """
        resources:
          - a-multi.yaml
          - ./b-numbers.yaml
          - c-lists.yaml
          - sub
          - ../shared/extra.json
        """,
    )
    write(
        root,
        "tricky/sub/Kustomization",
        """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [d.yml, deeper/]
        """,
    )
    write(root, "tricky/sub/deeper/kustomization.yml", "resources:\n- e.yaml\n- empty.yaml\n")
    write(root, "tricky/sub/deeper/empty.yaml", "# nothing here yet\n")
    write(
        root,
        "shared/extra.json",
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json"},'
        ' "data": {"n": "1"}}\n',
    )
    # A generated kustomization above a resources-only one.
    write(root, "mixed/plain.yaml", CM.format(name="plain"))
    write(root, "mixed/app/kustomization.yaml", "resources: [cm.yaml, ../../shared]\n")
    write(root, "mixed/app/cm.yaml", CM.format(name="app"))
    write(root, "shared/kustomization.yaml", "resources: [extra.json]\n")
    return root


def fallbacks(root: Path) -> Path:
    """Layouts only kustomize may answer: errors, and fields that transform."""
    write(root, "missing/kustomization.yaml", "resources: [a.yaml, nope.yaml]\n")
    write(root, "missing/a.yaml", CM.format(name="a"))
    write(root, "missing-dir/kustomization.yaml", "resources: [gone]\n")
    write(root, "no-kustomization/kustomization.yaml", "resources: [bare]\n")
    write(root, "no-kustomization/bare/cm.yaml", CM.format(name="bare"))
    write(root, "twice/kustomization.yaml", "resources: [a.yaml, ./a.yaml]\n")
    write(root, "twice/a.yaml", CM.format(name="a"))
    write(root, "collide/kustomization.yaml", "resources: [a, b]\n")
    for sub in ("a", "b"):
        write(root, f"collide/{sub}/kustomization.yaml", "resources: [cm.yaml]\n")
        write(root, f"collide/{sub}/cm.yaml", CM.format(name="same"))
    write(root, "cycle/a/kustomization.yaml", "resources: [../b]\n")
    write(root, "cycle/b/kustomization.yaml", "resources: [../a]\n")
    write(root, "self/kustomization.yaml", "resources: [.]\n")
    write(root, "namespaced/kustomization.yaml", "namespace: apps\nresources: [sub]\n")
    write(root, "namespaced/sub/kustomization.yaml", "resources: [cm.yaml]\n")
    write(root, "namespaced/sub/cm.yaml", CM.format(name="n"))
    write(root, "labelled/kustomization.yaml", "resources: [sub]\n")
    write(root, "labelled/sub/kustomization.yaml", "resources: [cm.yaml]\ncommonLabels: {a: b}\n")
    write(root, "labelled/sub/cm.yaml", CM.format(name="l"))
    write(root, "component/kustomization.yaml", "resources: [c]\n")
    write(
        root,
        "component/c/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
    )
    write(root, "component/c/cm.yaml", CM.format(name="c"))
    write(root, "two-files/kustomization.yaml", "resources: [sub]\n")
    write(root, "two-files/sub/kustomization.yaml", "resources: [cm.yaml]\n")
    write(root, "two-files/sub/kustomization.yml", "resources: [cm.yaml]\n")
    write(root, "two-files/sub/cm.yaml", CM.format(name="t"))
    write(root, "empty-list/kustomization.yaml", "resources: [sub]\n")
    write(root, "empty-list/sub/kustomization.yaml", "resources: []\n")
    write(root, "dates/kustomization.yaml", "resources: [cm.yaml]\n")
    write(root, "dates/cm.yaml", CM.format(name="d") + "data: {when: 2024-01-01}\n")
    write(root, "not-object/kustomization.yaml", "resources: [values.yaml]\n")
    write(root, "not-object/values.yaml", "replicaCount: 3\n")
    write(root, "bool-entry/kustomization.yaml", "resources: [on]\n")
    write(root, "bool-entry/on", CM.format(name="on"))
    write(root, "unknown-field/kustomization.yaml", "resources: [cm.yaml]\nsortOptions: {}\n")
    write(root, "unknown-field/cm.yaml", CM.format(name="u"))
    return root


def examples(root: Path) -> Path:
    shutil.copytree(EXAMPLES, root)
    return root


LAYOUTS: dict[str, Callable[[Path], Path]] = {
    "prd": prd_repository,
    "examples": examples,
    "tricky": tricky,
    "fallbacks": fallbacks,
}

# (layout, spec.path, whether the engine builds it in process)
CASES = [
    ("prd", ".", True),
    ("prd", "infrastructure", True),
    ("prd", "infrastructure/base/crds", True),
    ("prd", "infrastructure/base/operators", True),
    ("prd", "infrastructure/base/brokers", True),
    ("prd", "teams/team-backend", True),
    ("prd", "teams/team-frontend", True),
    ("prd", "teams", True),
    ("prd", "policies", True),
    ("prd", "charts/operators", True),
    ("prd", "infrastructure/overlays/production", False),
    ("prd", "infrastructure/overlays/staging", False),
    ("prd", "infrastructure/overlays/development", False),
    ("examples", "infrastructure", True),
    ("examples", "infrastructure/base/crds", True),
    ("examples", "infrastructure/base/operators", True),
    ("examples", "infrastructure/base/brokers", True),
    ("examples", "teams/team-backend/applications", True),
    ("examples", "teams/team-backend/databases", True),
    ("examples", "teams/team-frontend/applications", True),
    ("examples", "policies", True),
    ("examples", "clusters/local", True),
    ("examples", "teams", False),
    ("examples", "teams/team-backend", False),
    ("examples", "infrastructure/overlays/production", False),
    ("tricky", "tricky", True),
    ("tricky", "tricky/sub", True),
    ("tricky", "mixed", True),
    ("tricky", "shared", True),
    *(
        ("fallbacks", case, False)
        for case in (
            "missing",
            "missing-dir",
            "no-kustomization",
            "twice",
            "collide",
            "cycle/a",
            "self",
            "namespaced",
            "labelled",
            "component",
            "two-files",
            "empty-list",
            "dates",
            "not-object",
            "bool-entry",
            "unknown-field",
        )
    ),
]


def outcome(root: Path, path: str, kustomize: runner.Kustomize = runner.run) -> str:
    """The build's objects as canonical JSON (order and types count), or its error."""
    try:
        objects = build.build(root, path, Overlay(), allow_remote_bases=False, kustomize=kustomize)
    except build.BuildError as err:
        return f"{type(err).__name__}: {err}"
    return json.dumps(objects)


@pytest.mark.parametrize(("layout", "path", "in_process"), CASES)
def test_in_process_build_equals_kustomize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str, path: str, in_process: bool
) -> None:
    root = LAYOUTS[layout](tmp_path / "artifact")
    started: list[Path] = []
    real_run = runner.run

    def spy(directory: Path, **kwargs: Any) -> str:
        started.append(directory)
        return real_run(directory, **kwargs)

    engine = outcome(root, path, spy)
    assert (not started) == in_process
    with monkeypatch.context() as patched:
        patched.setattr(build, "_in_process", lambda plan, overlay: None)
        reference = outcome(root, path)
    assert engine == reference


def test_the_tricky_layout_builds_objects(tmp_path: Path) -> None:
    """Not vacuous: the comparison above covers real objects, and kustomize run directly
    on the directory agrees."""
    root = tricky(tmp_path / "artifact")
    objects = build.build(root, "tricky", Overlay(), allow_remote_bases=False)
    assert len(objects) == 14
    assert json.dumps(objects) == json.dumps(kustomize(root / "tricky"))
    assert objects[0]["kind"] == "Namespace"
    assert objects[-1]["kind"] == "ValidatingWebhookConfiguration"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("missing", "nope.yaml"),
        ("collide", "already registered id"),
        ("cycle/a", "cycle"),
    ],
)
def test_refusals_are_kustomizes(tmp_path: Path, path: str, error: str) -> None:
    root = fallbacks(tmp_path / "artifact")
    with pytest.raises(direct.NeedsKustomize):
        direct.read_kustomization((root / path).resolve(), root.resolve())
    with pytest.raises(build.BuildError, match=error):
        build.build(root, path, Overlay(), allow_remote_bases=False)


def test_digest_follows_a_nested_resource(tmp_path: Path) -> None:
    root = tricky(tmp_path / "artifact")
    before = build.digest(root, "tricky", Overlay())
    write(root, "tricky/sub/deeper/empty.yaml", CM.format(name="new"))
    assert build.digest(root, "tricky", Overlay()) != before
    objects = build.build(root, "tricky", Overlay(), allow_remote_bases=False)
    assert "new" in [obj["metadata"]["name"] for obj in objects]
