"""The two glob dialects of source-watcher: Go's path.Match (`*` inside one segment) and
doublestar (`**` across segments, alternatives), pinned by the cases their docs give."""

from __future__ import annotations

from pathlib import Path

import pytest

from kidp_gitops.source import globs


@pytest.mark.parametrize(
    ("pattern", "path", "go", "doublestar"),
    [
        ("*.yaml", "a.yaml", True, True),
        ("*.yaml", "dir/a.yaml", False, False),
        ("dir/**", "dir/a.yaml", True, True),
        ("dir/**", "dir/sub/a.yaml", False, True),
        ("dir/**", "dir", False, True),
        ("**/*.tgz", "a.tgz", False, True),
        ("**/*.tgz", "x/y/a.tgz", False, True),
        ("a/**/b", "a/b", False, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("a/**/b", "ax/b", False, False),
        ("**/testdata/**", "x/testdata/t.yaml", True, True),
        ("**/testdata/**", "x/y/testdata/t.yaml", False, True),
        ("file?.txt", "file1.txt", True, True),
        ("file?.txt", "file/.txt", False, False),
        ("[a-c]x", "bx", True, True),
        ("[^a-c]x", "dx", True, True),
        ("[!a-c]x", "dx", False, True),
        ("{a,b}.yaml", "b.yaml", False, True),
        ("\\*.yaml", "*.yaml", True, True),
    ],
)
def test_dialects(pattern: str, path: str, go: bool, doublestar: bool) -> None:
    assert globs.matches(globs.compile_pattern(pattern, recursive=False), path) is go
    assert globs.matches(globs.compile_pattern(pattern, recursive=True), path) is doublestar


@pytest.mark.parametrize("pattern", ["[", "a[b", "[]", "x\\", "{a,b", "a]"])
def test_malformed_patterns_are_errors(pattern: str) -> None:
    with pytest.raises(globs.PatternError, match="syntax error in pattern"):
        globs.compile_pattern(pattern, recursive=True)


def test_glob_lists_files_and_directories_without_following_links(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "f.yaml").write_text("x")
    (tmp_path / "d" / "e" / "g.yaml").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path)
    assert globs.glob(tmp_path, "d/*", recursive=False) == ["d/e", "d/f.yaml"]
    assert globs.glob(tmp_path, "**/*.yaml", recursive=True) == ["d/e/g.yaml", "d/f.yaml"]
    assert globs.glob(tmp_path, "loop/*", recursive=False) == []
