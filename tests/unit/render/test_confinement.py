"""A build reads nothing outside the artifact and fetches nothing unless allowed."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.render import build, errors, runner
from kidp_gitops.render.build import Overlay
from tests.unit.render.layout import names, write

SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: stolen}\nstringData: {key: host-secret}\n"


@pytest.fixture
def outside(repo: Path) -> Path:
    """A directory next to the artifact, holding what a build must never read."""
    place = repo.parent / "outside"
    write(place, "secret.yaml", SECRET)
    write(place, "kustomization.yaml", "resources: [secret.yaml]\n")
    write(place, "token", "host-token\n")
    return place


def run(
    root: Path,
    path: str,
    overlay: Overlay | None = None,
    *,
    remote: bool = False,
    kustomize: runner.Kustomize = runner.run,
) -> list[dict[str, Any]]:
    return build.build(
        root, path, overlay or Overlay(), allow_remote_bases=remote, kustomize=kustomize
    )


# --- spec.path ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../", "./infrastructure/../../outside", ".."])
def test_path_that_climbs_out_is_refused(repo: Path, outside: Path, path: str) -> None:
    with pytest.raises(errors.PathEscape, match="climbs out of the artifact"):
        run(repo, path)


def test_absolute_path_is_refused(repo: Path, outside: Path) -> None:
    with pytest.raises(errors.PathEscape, match="absolute"):
        run(repo, str(outside))


def test_path_through_a_symlink_out_is_refused(repo: Path, outside: Path) -> None:
    (repo / "linked").symlink_to(outside)
    with pytest.raises(errors.PathEscape, match="symlink"):
        run(repo, "./linked")


def test_path_through_a_symlink_inside_is_fine(repo: Path) -> None:
    (repo / "prod").symlink_to(repo / "infrastructure/overlays/production")
    assert len(run(repo, "prod")) == 6


@pytest.mark.parametrize("path", ["./nowhere", "infrastructure/overlays/qa"])
def test_missing_path(repo: Path, path: str) -> None:
    with pytest.raises(errors.PathNotFound, match="does not exist"):
        run(repo, path)


def test_path_to_a_file(repo: Path) -> None:
    with pytest.raises(errors.PathNotFound, match="not a directory"):
        run(repo, "policies/pod-security.yaml")


# --- references -----------------------------------------------------------------------


def test_resource_pointing_outside_the_root(repo: Path, outside: Path) -> None:
    write(repo, "apps/kustomization.yaml", "resources:\n- ../../outside/secret.yaml\n")
    with pytest.raises(errors.PathEscape) as caught:
        run(repo, "apps")
    assert str(caught.value) == (
        "apps/kustomization.yaml: resources entry '../../outside/secret.yaml' "
        "climbs out of the artifact"
    )


def test_base_directory_outside_the_root(repo: Path, outside: Path) -> None:
    write(repo, "apps/kustomization.yaml", "resources: [../../outside]\n")
    with pytest.raises(errors.PathEscape, match=re.escape("'../../outside' climbs out")):
        run(repo, "apps")


def test_absolute_resource(repo: Path, outside: Path) -> None:
    write(repo, "apps/kustomization.yaml", f"resources: [{outside / 'secret.yaml'}]\n")
    with pytest.raises(errors.PathEscape, match="absolute path"):
        run(repo, "apps")


def test_symlinked_file_in_a_base_pointing_outside(repo: Path, outside: Path) -> None:
    os.symlink(outside / "secret.yaml", repo / "infrastructure/base/brokers/secret.yaml")
    write(
        repo,
        "infrastructure/base/brokers/kustomization.yaml",
        "resources: [broker.yaml, secret.yaml]\n",
    )
    with pytest.raises(errors.PathEscape) as caught:
        run(repo, "infrastructure/overlays/production")
    assert "infrastructure/base/brokers/kustomization.yaml" in str(caught.value)
    assert "symlink out of the artifact" in str(caught.value)


def test_symlinked_kustomization_file_pointing_outside(repo: Path, outside: Path) -> None:
    (repo / "apps").mkdir()
    os.symlink(outside / "kustomization.yaml", repo / "apps/kustomization.yaml")
    with pytest.raises(errors.PathEscape, match="symlink out"):
        run(repo, "apps")
    write(repo, "top/kustomization.yaml", "resources: [../apps]\n")
    with pytest.raises(errors.PathEscape, match="symlink out"):
        run(repo, "top")


def test_symlinked_manifest_in_a_generated_directory(repo: Path, outside: Path) -> None:
    os.symlink(outside / "secret.yaml", repo / "policies/zz-secret.yaml")
    with pytest.raises(errors.PathEscape, match=r"zz-secret\.yaml"):
        run(repo, "policies")


@pytest.mark.parametrize(
    "kustomization",
    [
        "resources: [cm.yaml]\npatches:\n- path: ../../outside/secret.yaml\n",
        "resources: [cm.yaml]\npatchesStrategicMerge:\n- ../../outside/secret.yaml\n",
        "configMapGenerator:\n- name: c\n  files: [token=../../outside/token]\n",
        "secretGenerator:\n- name: s\n  envs: [../../outside/token]\n",
        "resources: [cm.yaml]\ncomponents: [../../outside]\n",
        "resources: [cm.yaml]\ncrds: [../../outside/secret.yaml]\n",
        "resources: [cm.yaml]\nreplacements:\n- path: ../../outside/secret.yaml\n",
        "resources: [cm.yaml]\ntransformers:\n- ../../outside/secret.yaml\n",
        "generators:\n- |-\n  apiVersion: builtin\n  kind: SecretGenerator\n  metadata: {name: s}\n"
        "  files: [../../outside/token]\n",
        "resources: [cm.yaml]\ntransformers:\n- '{apiVersion: builtin, kind: PatchTransformer, "
        "metadata: {name: p}, path: ../../outside/secret.yaml}'\n",
    ],
)
def test_every_file_field_is_confined(repo: Path, outside: Path, kustomization: str) -> None:
    write(repo, "apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n")
    write(repo, "apps/kustomization.yaml", kustomization)
    with pytest.raises(errors.PathEscape, match="climbs out of the artifact"):
        run(repo, "apps")


def test_component_from_the_spec_pointing_outside(repo: Path, outside: Path) -> None:
    with pytest.raises(errors.PathEscape, match="climbs out"):
        run(repo, "teams/team-backend", Overlay(components=["../../../outside"]))


def test_references_between_directories_inside_the_root_are_fine(repo: Path) -> None:
    write(repo, "shared/quota.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\n")
    write(repo, "teams/team-frontend/kustomization.yaml", "resources:\n- ../../shared/quota.yaml\n")
    assert names(run(repo, "teams/team-frontend")) == ["ConfigMap/shared"]


# --- remote references ----------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "https://github.com/company/kidp-infrastructure//base?ref=v1.0.0",
        "https://raw.githubusercontent.com/company/repo/main/cm.yaml",
        "git@github.com:company/kidp-infrastructure.git//base",
        "ssh://git@gitlab.com/company/repo.git",
        "git::https://example.com/repo.git",
        "github.com/company/kidp-infrastructure/base",
    ],
)
def test_remote_resource_refused_before_kustomize_runs(repo: Path, entry: str) -> None:
    write(repo, "apps/kustomization.yaml", f"resources:\n- {entry}\n")
    with pytest.raises(errors.RemoteReference) as caught:
        run(repo, "apps", kustomize=_never)
    assert str(caught.value) == (
        f"apps/kustomization.yaml: resources entry {entry!r} is a remote reference, "
        "and remote bases are not allowed"
    )


def test_remote_component_in_a_base_refused(repo: Path) -> None:
    write(
        repo,
        "infrastructure/base/brokers/kustomization.yaml",
        "resources: [broker.yaml]\ncomponents: [https://github.com/org/comp//tls]\n",
    )
    with pytest.raises(errors.RemoteReference, match="infrastructure/base/brokers"):
        run(repo, "infrastructure/overlays/production", kustomize=_never)


def test_remote_allowed_goes_to_kustomize(repo: Path) -> None:
    calls: list[Path] = []

    def fake(directory: Path, **_: object) -> str:
        calls.append(directory)
        return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: remote}\n"

    write(repo, "apps/kustomization.yaml", "resources:\n- https://example.com/cm.yaml\n")
    assert names(run(repo, "apps", remote=True, kustomize=fake)) == ["ConfigMap/remote"]
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("file:///etc/kubernetes", "is a file URL"),
        ("git::file:///var/lib/kidp/git/0123abcd.git//base?ref=main", "is a file URL"),
        ("git::/var/lib/kidp/git/0123abcd.git//base", "is a local path behind git::"),
        ("git::../../other-tenant.git", "is a local path behind git::"),
        ("https://127.0.0.1:9080/api/v1/objects", "names this machine (127.0.0.1)"),
        ("http://localhost:9090/gitrepository/a/b/c.tar.gz", "names this machine (localhost)"),
        ("git::http://[::1]:8080/tenant-b.git//base", "names this machine (::1)"),
        ("ssh://git@127.1.2.3/tenant-b.git", "names this machine (127.1.2.3)"),
        ("git@localhost:tenant-b.git//base", "names this machine (localhost)"),
        ("https://0.0.0.0/x.yaml", "names this machine (0.0.0.0)"),
        ("https://127.1/x.yaml", "names this machine (127.1)"),
        ("https://2130706433/x.yaml", "names this machine (2130706433)"),
        ("https://0x7f000001/x.yaml", "names this machine (0x7f000001)"),
        ("https://[::ffff:127.0.0.1]/x.yaml", "names this machine (::ffff:127.0.0.1)"),
        ("https://localhost./x.yaml", "names this machine (localhost.)"),
        ("ssh://git@0/tenant-b.git", "names this machine (0)"),
    ],
)
def test_local_sources_are_never_allowed(repo: Path, entry: str, why: str) -> None:
    """Even with remote bases allowed: these read the engine's host (its mirrors of
    other tenants' repositories, its own servers), not a remote repository."""
    write(repo, "apps/kustomization.yaml", f"resources:\n- {entry}\n")
    with pytest.raises(errors.PathEscape) as caught:
        run(repo, "apps", remote=True, kustomize=_never)
    assert str(caught.value) == (
        f"apps/kustomization.yaml: resources entry {entry!r} {why}: it would read a "
        "repository outside the artifact, which is never allowed"
    )


def _never(*_: object, **__: object) -> str:
    raise AssertionError("kustomize must not run")
