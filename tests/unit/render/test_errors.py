"""kustomize's errors, as a person reads them in a status condition."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kidp_gitops.proc import run as proc
from kidp_gitops.render import build, errors, runner
from kidp_gitops.render.build import Overlay, Patch, PatchTarget
from tests.unit.render.layout import write


def failure(root: Path, path: str, overlay: Overlay | None = None) -> str:
    with pytest.raises(errors.BuildError) as caught:
        build.build(root, path, overlay or Overlay(), allow_remote_bases=False)
    message = str(caught.value)
    for leaked in ("/tmp", str(root), "kidp-kustomize"):
        assert leaked not in message
    return message


def test_missing_resource_names_the_file_relative_to_the_artifact(repo: Path) -> None:
    write(repo, "apps/kustomization.yaml", "resources:\n- deploy.yaml\n")
    assert failure(repo, "apps") == (
        "accumulating resources: accumulating resources from 'deploy.yaml': "
        "open apps/deploy.yaml: no such file or directory"
    )


def test_missing_resource_in_an_amended_kustomization(repo: Path) -> None:
    write(repo, "apps/kustomization.yaml", "resources:\n- ../shared/deploy.yaml\n")
    message = failure(repo, "apps", Overlay(target_namespace="apps"))
    assert message.endswith("open shared/deploy.yaml: no such file or directory")
    assert "\n" not in message


def test_broken_yaml_in_a_base(repo: Path) -> None:
    write(
        repo, "infrastructure/base/brokers/broker.yaml", "apiVersion: v1\nkind: Service\n  x: [\n"
    )
    message = failure(repo, "infrastructure/overlays/production")
    assert "broker.yaml" in message
    assert "yaml: line" in message


def test_patch_that_does_not_apply(repo: Path) -> None:
    patch = Patch(
        patch="- op: replace\n  path: /spec/nothing/here\n  value: 1\n",
        target=PatchTarget(kind="Deployment"),
    )
    message = failure(repo, "teams/team-backend", Overlay(patches=[patch]))
    assert "/spec/nothing/here" in message


def test_duplicate_objects(repo: Path) -> None:
    write(
        repo,
        "teams/team-backend/kustomization.yaml",
        "resources:\n- applications/api.yaml\n- applications\n",
    )
    write(repo, "teams/team-backend/applications/kustomization.yaml", "resources: [api.yaml]\n")
    assert "already registered id" in failure(repo, "teams/team-backend")


def test_unknown_field(repo: Path) -> None:
    write(repo, "apps/kustomization.yaml", "resources: []\nresourses: [a.yaml]\n")
    assert failure(repo, "apps") == 'invalid Kustomization: json: unknown field "resourses"'


def test_kustomization_that_is_not_yaml(repo: Path) -> None:
    write(repo, "apps/kustomization.yaml", "resources: [a.yaml\n")
    with pytest.raises(errors.InvalidKustomization) as caught:
        build.build(repo, "apps", Overlay(), allow_remote_bases=False)
    assert str(caught.value).startswith("apps/kustomization.yaml: not valid YAML: ")
    assert "line 2" in str(caught.value)


def test_explain_keeps_one_account_of_the_failure() -> None:
    stderr = (
        "error: accumulating resources: accumulation err='accumulating resources from "
        "'../base': accumulation err='accumulating resources from 'x.yaml': open "
        "/tmp/kidp-kustomize-1/src/base/x.yaml: no such file or directory': must build at "
        "directory: not a valid directory: evalsymlink failure on '/tmp/kidp-kustomize-1/src/"
        "base/x.yaml' : lstat /tmp/kidp-kustomize-1/src/base/x.yaml: no such file or "
        "directory': must build at directory: '/tmp/kidp-kustomize-1/src/base': file is not "
        "directory\n"
    )
    assert runner.explain(stderr, {"/tmp/kidp-kustomize-1/src": ""}) == (
        "accumulating resources: accumulating resources from '../base': accumulating "
        "resources from 'x.yaml': open base/x.yaml: no such file or directory"
    )


def test_explain_caps_long_output() -> None:
    stderr = "\n".join(f"error: line {i} " + "x" * 1000 for i in range(20))
    lines = runner.explain(stderr, {}).splitlines()
    assert len(lines) == 9
    assert all(len(line) <= 600 for line in lines)
    assert lines[-1] == "… (12 more lines)"


def test_rewrite_paths_handles_the_root_itself() -> None:
    replacements = {"/srv/artifact": "", "/srv/artifact/sub": "sub"}
    text = "in /srv/artifact and /srv/artifact/sub/a.yaml and /srv/artifact/x and /srv/artifactz"
    assert runner.rewrite_paths(text, replacements) == (
        "in . and sub/a.yaml and x and /srv/artifactz"
    )


def test_a_hanging_kustomize_is_killed(repo: Path) -> None:
    slow = (sys.executable, "-c", "import time; time.sleep(30)")
    with proc.substituted(lambda argv: slow), pytest.raises(errors.KustomizeTimeout) as caught:
        build.build(
            repo,
            "infrastructure/overlays/staging",
            Overlay(),
            allow_remote_bases=False,
            timeout=0.5,
        )
    assert str(caught.value) == "kustomize build did not finish in 0.5s"
    assert caught.value.transient


def test_no_kustomize_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(errors.BuildError, match="kustomize is not installed"):
        runner.command.__wrapped__()


def test_standalone_kustomize_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    program = tmp_path / "kustomize"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert runner.command.__wrapped__() == (str(program), "build")
