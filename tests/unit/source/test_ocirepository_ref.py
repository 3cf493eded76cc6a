"""What an OCIRepository's spec.ref resolves to, and at what cost: a digest pin is one
HEAD; spec.ref.semverFilter is a tenant's regular expression, RE2 as Flux (Go) reads it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from kidp_gitops.api import source as api
from kidp_gitops.oci.client import OCI_MANIFEST, Client
from kidp_gitops.oci.reference import Repository
from kidp_gitops.runtime import outbound
from kidp_gitops.runtime.reconcile import ReconcileError, StalledError
from kidp_gitops.source.ocirepository import resolve, semver_filter

MANIFEST = b'{"schemaVersion": 2, "layers": []}'
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


@pytest.fixture
async def registry() -> AsyncIterator[tuple[Client, list[str]]]:
    """A loopback registry with one manifest; the list records every request."""
    seen: list[str] = []

    async def manifest(request: web.Request) -> web.Response:
        seen.append(f"{request.method} {request.match_info['ref']}")
        if request.match_info["ref"] != DIGEST:
            return web.Response(status=404)
        headers = {"Docker-Content-Digest": DIGEST, "Content-Type": OCI_MANIFEST}
        return web.Response(body=MANIFEST, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/v2/r/manifests/{ref}", manifest)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http = outbound.Outbound()
    host = f"127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield Client(Repository(host, "r"), insecure=True, timeout=10, http=http), seen
    finally:
        await http.close()
        await runner.cleanup()


async def test_a_digest_pin_is_checked_with_one_head(
    registry: tuple[Client, list[str]],
) -> None:
    client, seen = registry
    pick = await resolve(client, api.OCIRepositoryRef.model_validate({"digest": DIGEST}))
    assert pick.revision == DIGEST
    assert seen == [f"HEAD {DIGEST}"]

    missing = "sha256:" + "1" * 64
    with pytest.raises(ReconcileError, match="not found"):
        await resolve(client, api.OCIRepositoryRef.model_validate({"digest": missing}))


def test_a_filter_matches_as_go_regexp() -> None:
    matcher = semver_filter(r"^v1\.\d+\.\d+-rc")
    assert matcher is not None
    assert matcher.search("v1.2.3-rc.1")
    assert not matcher.search("v2.0.0-rc.1")
    assert semver_filter(None) is None
    assert semver_filter("") is None


@pytest.mark.parametrize("pattern", [r"^(v)\1", r"^v(?=1)", "^v(1"])
def test_what_go_regexp_refuses_stalls_naming_the_field(pattern: str) -> None:
    with pytest.raises(StalledError) as err:
        semver_filter(pattern)
    assert "spec.ref.semverFilter" in str(err.value)
    assert "b'" not in str(err.value)


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    # With a backtracking engine this search takes about 2^40 steps (days).
    matcher = semver_filter(r"^(a+)+$")
    assert matcher is not None
    assert not matcher.search("a" * 40 + "!")
