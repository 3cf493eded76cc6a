"""Flux's ignore rules for artifacts: defaults, spec.ignore, .sourceignore, symlinks."""

from __future__ import annotations

from pathlib import Path

from kidp_gitops.source.ignore import IgnoreRules


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_default_exclusions_and_sourceignore(tmp_path: Path) -> None:
    root = tree(
        tmp_path / "t",
        {
            "apps/deploy.yaml": "a",
            "logo.png": "x",
            ".github/workflows/ci.yaml": "x",
            ".gitignore": "x",
            "charts/app/.sops.yaml": "x",
            "docs/readme.md": "x",
            "apps/.sourceignore": "*.md\n/secret/\n!keep.md\n",
            "apps/notes.md": "x",
            "apps/keep.md": "x",
            "apps/secret/s.yaml": "x",
            "apps/sub/secret/t.yaml": "x",
            ".git/config": "x",
        },
    )
    kept = set(IgnoreRules(root, None).files(root))
    assert kept == {
        "apps/deploy.yaml",
        "docs/readme.md",
        "apps/.sourceignore",
        "apps/keep.md",
        "apps/sub/secret/t.yaml",
    }


def test_spec_ignore_replaces_the_defaults_but_not_the_vcs_files(tmp_path: Path) -> None:
    root = tree(tmp_path / "t", {"logo.png": "x", "a.yaml": "x", "b.txt": "x", ".gitmodules": "x"})
    kept = set(IgnoreRules(root, "*.txt\n").files(root))
    assert kept == {"logo.png", "a.yaml"}


def test_symlinks_are_left_out(tmp_path: Path) -> None:
    root = tree(tmp_path / "t", {"a.yaml": "x"})
    (root / "escape").symlink_to("/etc/passwd")
    (root / "dir").symlink_to(tmp_path)
    assert list(IgnoreRules(root, None).files(root)) == ["a.yaml"]
