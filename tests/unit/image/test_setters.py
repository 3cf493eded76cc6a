from __future__ import annotations

from pathlib import Path

from kidp_gitops.image import setters

LATEST = {"flux-system:app": setters.Latest("ghcr.io/org/app", "1.2.0")}

SOURCE = """\
# a comment that stays
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: app
        image: 'ghcr.io/org/app:1.0.0'   # {"$imagepolicy": "flux-system:app"}
        args: ["--keep", "this"]   # other comment
---
images:
  - name: app
    newName: old/app # {"$imagepolicy": "flux-system:app:name"}
    newTag: "1.0.0"  # {"$imagepolicy": "flux-system:app:tag"}
tags:
  - 1.0.0 # {"$imagepolicy": "flux-system:app:tag"}
  - unrelated # {"$imagepolicy": "flux-system:other:tag"}
"""


def test_setters_replace_only_the_marked_scalars_byte_for_byte() -> None:
    text, changes = setters.update_text(SOURCE, LATEST)
    assert text == (
        SOURCE.replace("'ghcr.io/org/app:1.0.0'", "'ghcr.io/org/app:1.2.0'")
        .replace("newName: old/app", "newName: ghcr.io/org/app")
        .replace('newTag: "1.0.0"', 'newTag: "1.2.0"')
        .replace("  - 1.0.0 #", "  - 1.2.0 #")
    )
    assert [(c[1], c[2]) for c in changes] == [
        ("ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.2.0"),
        ("old/app", "ghcr.io/org/app"),
        ("1.0.0", "1.2.0"),
        ("1.0.0", "1.2.0"),
    ]


def test_up_to_date_unknown_policies_and_bad_yaml_change_nothing() -> None:
    current, _ = setters.update_text(SOURCE, LATEST)
    assert setters.update_text(current, LATEST) == (current, [])
    assert setters.update_text(SOURCE, {}) == (SOURCE, [])
    broken = 'a: [unclosed # {"$imagepolicy": "flux-system:app"}\n'
    assert setters.update_text(broken, LATEST) == (broken, [])


def test_update_tree_reports_files_relative_to_the_root(tmp_path: Path) -> None:
    overlay = tmp_path / "overlays" / "prod"
    overlay.mkdir(parents=True)
    (overlay / "a.yaml").write_text('image: x:1 # {"$imagepolicy": "flux-system:app"}\n')
    (overlay / "notes.txt").write_text('image: x:1 # {"$imagepolicy": "flux-system:app"}\n')
    (tmp_path / "b.yaml").write_text('image: x:1 # {"$imagepolicy": "flux-system:app"}\n')
    result = setters.update_tree(tmp_path, overlay, LATEST)
    assert result.files == ["overlays/prod/a.yaml"]
    assert "ghcr.io/org/app:1.2.0" in (overlay / "a.yaml").read_text()
    assert (tmp_path / "b.yaml").read_text().startswith("image: x:1 ")
