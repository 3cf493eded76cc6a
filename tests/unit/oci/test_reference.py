from __future__ import annotations

import pytest

from kidp_gitops.oci.errors import OCIError
from kidp_gitops.oci.reference import Reference, Repository, parse_reference, parse_repository

DIGEST = "sha256:" + "a" * 64


def test_a_repository_url_names_host_and_path() -> None:
    repo = parse_repository("oci://ghcr.io/stefanprodan/manifests/podinfo")
    assert repo == Repository("ghcr.io", "stefanprodan/manifests/podinfo")
    assert repo.url() == "oci://ghcr.io/stefanprodan/manifests/podinfo"


def test_docker_hub_short_names_are_read_as_the_docker_cli_reads_them() -> None:
    repo = parse_repository("oci://docker.io/podinfo")
    assert repo.path == "library/podinfo"
    assert repo.api_host == "registry-1.docker.io"


@pytest.mark.parametrize(
    "url",
    [
        "https://ghcr.io/org/app",  # not oci://
        "oci://ghcr.io/org/app:v1",  # a tag belongs in spec.ref
        "oci://ghcr.io/org/app@" + DIGEST,
        "oci://app",  # no registry host
        "oci://ghcr.io/Org/App",  # upper case is not a repository name
    ],
)
def test_a_repository_url_refuses_what_is_not_one(url: str) -> None:
    with pytest.raises(OCIError):
        parse_repository(url)


def test_a_reference_takes_a_tag_a_digest_or_both() -> None:
    repo = Repository("127.0.0.1:5000", "apps/demo")
    assert parse_reference("oci://127.0.0.1:5000/apps/demo:v1.2.3") == Reference(repo, "v1.2.3")
    assert parse_reference(f"oci://127.0.0.1:5000/apps/demo@{DIGEST}") == Reference(
        repo, None, DIGEST
    )
    both = parse_reference(f"oci://127.0.0.1:5000/apps/demo:v1@{DIGEST}")
    assert (both.tag, both.digest, both.ref) == ("v1", DIGEST, DIGEST)
    assert parse_reference("oci://127.0.0.1:5000/apps/demo").tag == "latest"


def test_a_reference_refuses_a_bad_digest_or_tag() -> None:
    with pytest.raises(OCIError):
        parse_reference("oci://ghcr.io/org/app@sha256:beef")
    with pytest.raises(OCIError):
        parse_reference("oci://ghcr.io/org/app:-bad")
