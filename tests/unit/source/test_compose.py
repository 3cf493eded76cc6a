"""The copy operations of an ArtifactGenerator, on real trees: `cp`'s semantics as
source-watcher documents them, the three strategies, excludes, and what a hostile
generator or source cannot do (leave its roots, grow without bound)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from kidp_gitops.api import generator as api
from kidp_gitops.source import compose
from kidp_gitops.source.compose import ComposeError, Limits


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def op(source: str, to: str, **extra: Any) -> api.CopyOperation:
    return api.CopyOperation.model_validate({"from": source, "to": to, **extra})


DEFAULT = Limits()


def run(
    tmp_path: Path,
    sources: dict[str, dict[str, str]],
    *ops: api.CopyOperation,
    limits: Limits = DEFAULT,
) -> dict[str, str]:
    roots = {alias: tree(tmp_path / "src" / alias, files) for alias, files in sources.items()}
    staging = tmp_path / "out"
    files = compose.compose(list(ops), roots, staging, limits)
    return {f: (staging / f).read_text() for f in files}


SRC = {
    "config.yaml": "a: 1\n",
    "README.md": "readme\n",
    "configs/one.yaml": "one\n",
    "configs/two.yaml": "two\n",
    "configs/notes.md": "notes\n",
    "configs/sub/three.yaml": "three\n",
    "configs/testdata/t.yaml": "t\n",
}


@pytest.mark.parametrize(
    ("source", "to", "expected"),
    [
        # file → a new name, → into a directory (trailing slash)
        ("@s/config.yaml", "@artifact/apps/app.yaml", {"apps/app.yaml"}),
        ("@s/config.yaml", "@artifact/apps/", {"apps/config.yaml"}),
        # a directory is copied as a subdirectory, with or without the slashes
        ("@s/configs/sub", "@artifact/dest", {"dest/sub/three.yaml"}),
        ("@s/configs/sub/", "@artifact/dest/", {"dest/sub/three.yaml"}),
        # `dir/**` takes dir's entries without the prefix, subdirectories whole
        (
            "@s/configs/**",
            "@artifact/",
            {"one.yaml", "two.yaml", "notes.md", "sub/three.yaml", "testdata/t.yaml"},
        ),
        # other globs keep the matched path; `*` stays inside one segment
        (
            "@s/configs/*.yaml",
            "@artifact/apps/",
            {"apps/configs/one.yaml", "apps/configs/two.yaml"},
        ),
        ("@s/*.yaml", "@artifact/", {"config.yaml"}),
        # the root of a source
        ("@s/", "@artifact/", set(SRC)),
    ],
)
def test_copy_is_cp_like(tmp_path: Path, source: str, to: str, expected: set[str]) -> None:
    assert set(run(tmp_path, {"s": SRC}, op(source, to))) == expected


def test_a_file_copied_onto_a_directory_made_earlier_goes_into_it(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        {"s": SRC},
        op("@s/configs/sub/", "@artifact/"),
        op("@s/config.yaml", "@artifact/sub"),
    )
    assert set(out) == {"sub/three.yaml", "sub/config.yaml"}


def test_later_operations_overwrite_earlier_ones(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        {"a": {"x.yaml": "from a\n"}, "b": {"x.yaml": "from b\n"}},
        op("@a/x.yaml", "@artifact/"),
        op("@b/x.yaml", "@artifact/"),
    )
    assert out == {"x.yaml": "from b\n"}


def test_excludes_match_names_paths_and_paths_below_the_literal_root(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        {"s": SRC},
        op("@s/configs/**", "@artifact/", exclude=["*.md", "**/testdata/**", "sub/**"]),
    )
    assert set(out) == {"one.yaml", "two.yaml"}
    out = run(tmp_path / "2", {"s": SRC}, op("@s/configs", "@artifact/", exclude=["configs/sub"]))
    assert set(out) == {
        "configs/one.yaml",
        "configs/two.yaml",
        "configs/notes.md",
        "configs/testdata/t.yaml",
    }


def test_merge_deep_merges_maps_and_replaces_lists(tmp_path: Path) -> None:
    chart = {
        "podinfo/Chart.yaml": "name: podinfo\n",
        "podinfo/values.yaml": "replicas: 1\nimage:\n  tag: 1.0\n  repo: x\nports: [80, 443]\n",
    }
    values = {"values-prod.yaml": "image:\n  tag: '2.0'\nports: [8080]\n"}
    out = run(
        tmp_path,
        {"chart": chart, "repo": values},
        op("@chart/", "@artifact/"),
        op("@repo/values-prod.yaml", "@artifact/podinfo/values.yaml", strategy="Merge"),
    )
    assert yaml.safe_load(out["podinfo/values.yaml"]) == {
        "replicas": 1,
        "image": {"tag": "2.0", "repo": "x"},
        "ports": [8080],
    }
    assert out["podinfo/Chart.yaml"] == "name: podinfo\n"


def test_merge_onto_nothing_copies(tmp_path: Path) -> None:
    out = run(tmp_path, {"s": SRC}, op("@s/config.yaml", "@artifact/new.yaml", strategy="Merge"))
    assert out == {"new.yaml": "a: 1\n"}


def tgz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


def test_extract_unpacks_tarballs_and_a_glob_skips_other_files(tmp_path: Path) -> None:
    src = tmp_path / "src" / "s"
    (src / "charts" / "deep").mkdir(parents=True)
    (src / "charts" / "app-1.0.0.tgz").write_bytes(tgz({"app/Chart.yaml": "name: app\n"}))
    (src / "charts" / "deep" / "db.tar.gz").write_bytes(tgz({"db/Chart.yaml": "name: db\n"}))
    (src / "charts" / "README.md").write_text("skip me\n")
    files = compose.compose(
        [
            op("@s/charts/**/*.tgz", "@artifact/c/", strategy="Extract"),
            op("@s/charts/deep/db.tar.gz", "@artifact/", strategy="Extract"),
        ],
        {"s": src},
        tmp_path / "out",
    )
    assert files == ["c/app/Chart.yaml", "db/Chart.yaml"]


def test_extract_of_a_single_file_must_be_a_tarball(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="needs a tarball"):
        run(tmp_path, {"s": SRC}, op("@s/config.yaml", "@artifact/", strategy="Extract"))


@pytest.mark.parametrize(
    ("source", "to", "message"),
    [
        ("@s/missing.yaml", "@artifact/", "does not exist"),
        ("@s/*.json", "@artifact/", "no files match pattern"),
        ("@s/[", "@artifact/", "syntax error in pattern"),
        ("@nope/config.yaml", "@artifact/", "source alias 'nope' not found"),
        ("@s/*.md", "@artifact/", "were excluded"),
        ("@s/../../etc/passwd", "@artifact/", "leaves its root"),
        ("@s/config.yaml", "@artifact/../../escape.yaml", "leaves its root"),
        ("@s/config.yaml", "@artifact/a/../../x", "leaves its root"),
    ],
)
def test_errors_say_what_is_wrong(tmp_path: Path, source: str, to: str, message: str) -> None:
    with pytest.raises(ComposeError, match=message) as err:
        run(tmp_path, {"s": SRC}, op(source, to, exclude=["*.md"]))
    assert source in str(err.value)


def test_a_link_out_of_the_source_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("host secret\n")
    src = tree(tmp_path / "src" / "s", {"ok.yaml": "ok\n"})
    os.symlink(outside, src / "leak.yaml")
    with pytest.raises(ComposeError, match="outside its source"):
        compose.compose([op("@s/", "@artifact/")], {"s": src}, tmp_path / "out")
    with pytest.raises(ComposeError, match="outside its source"):
        compose.compose([op("@s/leak.yaml", "@artifact/")], {"s": src}, tmp_path / "out2")
    written = [p for p in (tmp_path / "out2").rglob("*") if p.is_file()]
    assert not any("host secret" in p.read_text() for p in written)


def test_a_link_inside_the_source_is_copied_as_its_content(tmp_path: Path) -> None:
    src = tree(tmp_path / "src" / "s", {"real.yaml": "real\n"})
    os.symlink("real.yaml", src / "alias.yaml")
    files = compose.compose([op("@s/", "@artifact/")], {"s": src}, tmp_path / "out")
    assert files == ["alias.yaml", "real.yaml"]
    assert not (tmp_path / "out" / "alias.yaml").is_symlink()


def test_size_and_file_count_are_bounded(tmp_path: Path) -> None:
    big = {f"f{i}.txt": "x" * 100 for i in range(20)}
    with pytest.raises(ComposeError, match="larger than 1000 bytes"):
        run(tmp_path, {"s": big}, op("@s/", "@artifact/"), limits=Limits(max_bytes=1000))
    with pytest.raises(ComposeError, match="more than 5 files"):
        run(tmp_path / "2", {"s": big}, op("@s/", "@artifact/"), limits=Limits(max_files=5))


def test_time_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="took longer than 0s"):
        run(tmp_path, {"s": SRC}, op("@s/", "@artifact/"), limits=Limits(max_seconds=0))


def test_a_tarball_bomb_is_bounded_by_what_is_left(tmp_path: Path) -> None:
    src = tmp_path / "src" / "s"
    src.mkdir(parents=True)
    (src / "bomb.tgz").write_bytes(tgz({"zeros": "\0" * 5000}))
    with pytest.raises(ComposeError, match="cannot extract"):
        compose.compose(
            [op("@s/bomb.tgz", "@artifact/", strategy="Extract")],
            {"s": src},
            tmp_path / "out",
            Limits(max_bytes=1000),
        )
