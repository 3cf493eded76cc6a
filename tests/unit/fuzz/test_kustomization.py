"""Kustomization files and the directories around them, as a repository author writes
them: `build.digest` (the kustomization rendered with the overlay, every reference
followed) gives a digest or an `errors.BuildError`; the in-process reader (`direct`)
gives objects or `direct.NeedsKustomize`. Nothing else, and never a file outside."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kidp_gitops.render import build, direct, errors, kustomization
from kidp_gitops.render.overlay import Image, Overlay, Patch
from tests.unit.fuzz import harness
from tests.unit.fuzz.test_yamlio import TEXT as YAML_TEXT

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"
FIELDS = [
    "resources", "bases", "components", "crds", "configurations", "patchesStrategicMerge",
    "generators", "transformers", "validators", "patches", "patchesJson6902", "replacements",
    "configMapGenerator", "secretGenerator", "helmCharts", "helmGlobals", "openapi",
    "namespace", "images", "apiVersion", "kind", "namePrefix",
]  # fmt: skip
ITEM_KEYS = ["path", "paths", "files", "envs", "env", "valuesFile", "additionalValuesFiles",
             "chartHome", "name", "patch"]  # fmt: skip
PATHS = [
    "cm.yaml", "sub", "plain", "missing.yaml", "../app", "../../outside.yaml", "/etc/passwd",
    "link-out", "link-out/passwd", "https://github.com/a/b", "git::file:///tmp/x",
    "git::../x", "ssh://git@localhost/x", "git@127.0.0.1:x", "github.com/a/b", "file:///etc",
    "k=cm.yaml", "k=../../outside.yaml", "kind: X\nfiles: [../../outside.yaml]", "", ".",
    "./", "sub/../cm.yaml", "a\x00b", "é", "sub/kustomization.yaml", "plain/x.yaml",
]  # fmt: skip
_ENTRIES = st.lists(st.sampled_from(PATHS), min_size=1, max_size=3)
_VALUE = _ENTRIES | st.recursive(
    st.sampled_from(PATHS) | st.none() | st.integers() | st.booleans(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(ITEM_KEYS) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)
DOCS = st.dictionaries(st.sampled_from(FIELDS), _VALUE, max_size=6)
KUSTOMIZATIONS = DOCS.map(lambda doc: yaml.safe_dump(doc, allow_unicode=True)) | YAML_TEXT
OVERLAYS = st.sampled_from(
    [
        Overlay(),
        Overlay(target_namespace="ns", name_prefix="p-"),
        Overlay(images=(Image("nginx", new_tag="1.2"),), components=("sub", "missing")),
        Overlay(components=("missing",), ignore_missing_components=True),
        Overlay(patches=(Patch(patch="- op: remove\n  path: /x"),)),
        Overlay(components=("../../outside",)),
    ]
)


@contextmanager
def repository(kustomization_text: str | None, plain: Sequence[str] = ()) -> Iterator[Path]:
    """An artifact root holding app/ (with the kustomization text unless None), a
    resources-only base in app/sub, manifests in app/plain, a symlink out, and a file
    outside the root, next to it."""
    with tempfile.TemporaryDirectory(prefix="kidp-fuzz-") as scratch:
        root = Path(scratch) / "root"
        app = root / "app"
        (app / "sub").mkdir(parents=True)
        (app / "plain").mkdir()
        (Path(scratch) / "outside.yaml").write_text(CONFIGMAP.format(name="outside"))
        (app / "cm.yaml").write_text(CONFIGMAP.format(name="cm"))
        (app / "sub" / "cm.yaml").write_text(CONFIGMAP.format(name="sub"))
        (app / "sub" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
        for i, text in enumerate(plain):
            (app / "plain" / f"{i}.yaml").write_text(text, errors="surrogateescape")
        os.symlink("/etc", app / "link-out")
        if kustomization_text is not None:
            (app / "kustomization.yaml").write_text(kustomization_text, errors="surrogateescape")
        yield root


def builds_or_refuses(text: str | None, overlay: Overlay, plain: Sequence[str] = ()) -> None:
    with repository(text, plain) as root:
        try:
            build.digest(root, "app", overlay)
        except errors.BuildError:
            return
        real_root = Path(os.path.realpath(root))
        app = real_root / "app"
        rendered = kustomization.render(app, overlay, real_root)
        try:
            if rendered.scan is not None:
                objects = direct.read(rendered.scan, app, real_root)
            else:
                objects = direct.read_kustomization(app, real_root)
        except direct.NeedsKustomize:
            return
        for obj in objects:
            assert obj["metadata"]["name"] != "outside"


@given(KUSTOMIZATIONS, OVERLAYS)
@settings(max_examples=harness.examples(250))
@example("resources: " + "[" * 1000 + "]" * 1000, Overlay())
@example("resources: " + "[" * 250 + "]" * 250, Overlay())
@example('resources: ["a\\0b"]', Overlay())  # ValueError: embedded null byte
@example(
    "\n".join(
        ["a0: &a0 [x]"]
        + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)]
    )
    + "\nresources: []\nhelmCharts: *a11\n",
    Overlay(),
)
@harness.bounded
def test_kustomization_builds_or_refuses(text: str, overlay: Overlay) -> None:
    builds_or_refuses(text, overlay)


@given(st.lists(YAML_TEXT | st.just(CONFIGMAP.format(name="x")), max_size=3), OVERLAYS)
@settings(max_examples=harness.examples(120))
@harness.bounded
def test_generated_kustomization_builds_or_refuses(plain: list[str], overlay: Overlay) -> None:
    builds_or_refuses(None, overlay, plain)


@given(st.sampled_from(PATHS) | st.text(max_size=30))
@settings(max_examples=harness.examples(300))
@harness.bounded
def test_remote_entries_classify(entry: str) -> None:
    if kustomization.is_remote(entry):
        local = kustomization.local_target(entry)
        assert local is None or isinstance(local, str)


@pytest.mark.parametrize("path", harness.corpus("kustomization"))
def test_corpus(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    for overlay in (Overlay(), Overlay(target_namespace="ns")):
        harness.bounded(builds_or_refuses)(text, overlay)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("alias-bomb-helmcharts.yaml", "refused: aliases expand the document past 100,000 nodes"),
        ("alias-bomb-resources.yaml", "refused: aliases expand the document past 100,000 nodes"),
        ("self-alias.yaml", "refused: an alias refers to a node that contains it"),
        ("deep-resources-250.yaml", "refused: collections nested deeper than 200"),
        ("deep-resources-1000.yaml", "not valid YAML: .* exceeded maximum nesting depth"),
        ("deep-block-2000.yaml", "not valid YAML: .* exceeded maximum nesting depth"),
    ],
)
def test_bombs_are_refused_naming_the_file(name: str, problem: str) -> None:
    text = (harness.CORPUS / "kustomization" / name).read_text()
    with (
        repository(text) as root,
        pytest.raises(errors.InvalidKustomization, match=f"^app/kustomization.yaml: {problem}"),
    ):
        harness.bounded(build.digest)(root, "app", Overlay())
