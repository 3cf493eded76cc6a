"""`spec.pathPattern`: one set of artifacts per matching directory, as source-watcher
documents it (captures lowercased in names and labels, kept in paths; collisions and
invalid values refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.api import generator as api
from kidp_gitops.source import pathpattern
from kidp_gitops.source.pathpattern import PathPatternError


def spec(pattern: str | None, name: str = "{app}-{env}", **extra: Any) -> api.ArtifactGeneratorSpec:
    return api.ArtifactGeneratorSpec.model_validate(
        {
            "sources": [{"alias": "mono", "kind": "GitRepository", "name": "repo"}],
            **({"pathPattern": pattern} if pattern else {}),
            "artifacts": [
                {
                    "name": name,
                    "copy": [{"from": "@mono/apps/{app}/envs/{env}/**", "to": "@artifact/"}],
                    **extra,
                }
            ],
        }
    )


def tree(root: Path, *dirs: str) -> dict[str, Path]:
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    return {"mono": root}


def test_one_artifact_per_matching_directory(tmp_path: Path) -> None:
    trees = tree(
        tmp_path,
        "apps/Auth/envs/prod",
        "apps/Auth/envs/dev",
        "apps/web/envs/prod",
        "apps/web/docs",
        "other/x/envs/prod",
    )
    found = pathpattern.expand(spec("@mono/apps/{app}/envs/{env}"), trees)
    assert [e.artifact.name for e in found] == ["auth-dev", "auth-prod", "web-prod"]
    auth = found[0]
    # Lowercased in the name and the labels, as written in the paths.
    assert auth.labels == {"app": "auth", "env": "dev"}
    assert auth.artifact.copy_[0].from_ == "@mono/apps/Auth/envs/dev/**"


def test_without_a_pattern_the_artifacts_are_as_written(tmp_path: Path) -> None:
    found = pathpattern.expand(spec(None, name="plain"), tree(tmp_path))
    assert [(e.artifact.name, e.labels) for e in found] == [("plain", {})]


@pytest.mark.parametrize(
    ("dirs", "pattern", "name", "message"),
    [
        (("apps/Auth/envs/a", "apps/auth/envs/a"), None, None, "both resolve to artifact name"),
        (("apps/.hidden/envs/a",), None, None, "not a valid label value"),
        (("apps/a/envs/b",), "@mono/apps/{app}/envs/{app}", None, "duplicate capture"),
        (("apps/a/envs/b",), "@mono/apps/{app/envs/{env}", None, "capture"),
        (("apps/a/envs/b",), "@mono/apps/{1app}/envs/{env}", None, "must match"),
        (("apps/a/envs/b",), "@other/apps/{app}/envs/{env}", None, "alias 'other' not found"),
        (("apps/a/envs/b",), None, "{app}-{zone}", "'zone' in '{app}-{zone}' is not defined"),
        (("apps/a_b/envs/c",), None, None, "not a valid Kubernetes object name"),
    ],
)
def test_invalid_patterns_and_values_are_errors(
    tmp_path: Path, dirs: tuple[str, ...], pattern: str | None, name: str | None, message: str
) -> None:
    trees = tree(tmp_path, *dirs)
    given = spec(pattern or "@mono/apps/{app}/envs/{env}", name or "{app}-{env}")
    with pytest.raises(PathPatternError, match=message):
        pathpattern.expand(given, trees)
