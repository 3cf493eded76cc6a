"""The pure parts of building a HelmChart artifact: paths that must stay inside the
source, values files merged as Flux merges them, chart metadata, archive unpacking, and
the version a build is named by."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest
import yaml

from kidp_gitops.source import helmchart, helmpackage
from kidp_gitops.source.helmpackage import ChartError


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_paths_must_stay_inside_the_source(tmp_path: Path) -> None:
    assert helmpackage.inside(tmp_path, "./charts/app", "chart path") == tmp_path / "charts/app"
    assert helmpackage.inside(tmp_path, "/charts/app", "chart path") == tmp_path / "charts/app"
    with pytest.raises(
        ChartError, match=re.escape("chart path '../x' is outside the source")
    ) as err:
        helmpackage.inside(tmp_path / "src", "../x", "chart path")
    assert err.value.reason == "IllegalPath"
    assert err.value.stalled
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "link").symlink_to(tmp_path)
    with pytest.raises(ChartError, match=re.escape("outside")):
        helmpackage.inside(tmp_path / "src", "link/other", "values file")


def test_values_files_merge_in_order_maps_key_by_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.yaml": "image: {repo: app, tag: '1'}\nreplicas: 1\nlist: [1, 2]\n",
            "b.yaml": "image: {tag: '2'}\nlist: [3]\nextra: true\n",
        },
    )
    values, found = helmpackage.merge_values(tmp_path, ["a.yaml", "b.yaml"], ignore_missing=False)
    assert values == {
        "image": {"repo": "app", "tag": "2"},
        "replicas": 1,
        "list": [3],
        "extra": True,
    }
    assert found == ["a.yaml", "b.yaml"]

    values, found = helmpackage.merge_values(tmp_path, ["gone.yaml", "b.yaml"], ignore_missing=True)
    assert found == ["b.yaml"]
    with pytest.raises(ChartError, match=re.escape("values file 'gone.yaml' not found")) as err:
        helmpackage.merge_values(tmp_path, ["gone.yaml"], ignore_missing=False)
    assert err.value.reason == "InvalidChartReference"


def test_bad_values_files_and_charts_say_which(tmp_path: Path) -> None:
    write(tmp_path, {"list.yaml": "- 1\n", "chart/Chart.yaml": "name: x\n"})
    with pytest.raises(ChartError, match=re.escape("'list.yaml' is not a map")):
        helmpackage.merge_values(tmp_path, ["list.yaml"], ignore_missing=False)
    with pytest.raises(
        ChartError, match=re.escape("chart 'chart': Chart.yaml needs a name and a version")
    ):
        helmpackage.read_chart(tmp_path / "chart", "chart")
    with pytest.raises(ChartError, match=re.escape("no Helm chart at './none': no such directory")):
        helmpackage.read_chart(tmp_path / "none", "./none")
    with pytest.raises(ChartError, match=re.escape("Chart.yaml is missing")):
        helmpackage.read_chart(tmp_path, ".")


def test_local_dependencies_must_stay_in_the_source(tmp_path: Path) -> None:
    chart = {
        "name": "app",
        "version": "1.0.0",
        "dependencies": [
            {"name": "lib", "repository": "file://../lib"},
            {"name": "remote", "repository": "https://charts.example.com"},
        ],
    }
    write(tmp_path, {"charts/app/Chart.yaml": yaml.safe_dump(chart)})
    meta = helmpackage.read_chart(tmp_path / "charts/app", "charts/app")
    assert helmpackage.check_local_dependencies(tmp_path / "charts/app", tmp_path, meta)
    chart["dependencies"] = [{"name": "evil", "repository": "file://../../../etc"}]
    write(tmp_path, {"charts/app/Chart.yaml": yaml.safe_dump(chart)})
    meta = helmpackage.read_chart(tmp_path / "charts/app", "charts/app")
    with pytest.raises(ChartError, match=re.escape("dependency 'evil' of chart 'app'")):
        helmpackage.check_local_dependencies(tmp_path / "charts/app", tmp_path, meta)


def archive(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_unpack_chart_finds_the_chart_and_refuses_escapes(tmp_path: Path) -> None:
    data = archive({"app/Chart.yaml": b"name: app\nversion: 1.0.0\n", "app/values.yaml": b""})
    root = helmpackage.unpack_chart(data, tmp_path / "ok", "app")
    assert root == tmp_path / "ok" / "app"
    assert helmpackage.tree_files(tmp_path / "ok") == ["app/Chart.yaml", "app/values.yaml"]
    with pytest.raises(ChartError, match=re.escape("not a valid chart archive")) as err:
        helmpackage.unpack_chart(archive({"../evil": b"x"}), tmp_path / "evil", "evil")
    assert err.value.reason == "ChartPullError"
    with pytest.raises(ChartError, match=re.escape("not a valid chart archive")):
        helmpackage.unpack_chart(b"not gzip", tmp_path / "junk", "junk")
    with pytest.raises(ChartError, match=re.escape("holds no single chart")):
        helmpackage.unpack_chart(archive({"README": b"x"}), tmp_path / "none", "none")


@pytest.mark.parametrize(
    ("revision", "short"),
    [
        ("main@sha1:0123456789abcdef0123", "0123456789ab"),
        ("sha1:0123456789abcdef0123", "0123456789ab"),
        ("v1.0.0@sha1:fedcba9876543210fedc", "fedcba987654"),
        ("refs/pull/1/head@sha256:" + "a" * 64, "a" * 12),
    ],
)
def test_short_sha_of_git_revisions(revision: str, short: str) -> None:
    assert helmchart._short_sha(revision) == short


def test_version_metadata_replaces_any_build_metadata() -> None:
    assert helmchart._with_metadata("1.2.3", []) == "1.2.3"
    assert helmchart._with_metadata("1.2.3", ["abc", "4"]) == "1.2.3+abc.4"
    assert helmchart._with_metadata("1.2.3+old", ["2"]) == "1.2.3+2"
