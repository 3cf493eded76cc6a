"""The tag listing against the real registry (no cluster): pages, and the token flow."""

from __future__ import annotations

import uuid

import pytest

from kidp_gitops.image import registry as api
from kidp_gitops.runtime import registryauth
from tests.integration.image.registry import Registry, TokenGate


async def test_every_page_of_tags_is_read(registry: Registry) -> None:
    repo = f"team/many-{uuid.uuid4().hex[:8]}"
    tags = [f"1.{i}.0" for i in range(7)]
    registry.push(repo, *tags)
    image = api.parse_image(f"{registry.host}/{repo}")
    listed = await api.list_tags(image, None, insecure=True, page_size=3)
    assert sorted(listed) == sorted(tags)


async def test_token_flow_and_clear_errors(registry: Registry, token_gate: TokenGate) -> None:
    repo = f"team/gated-{uuid.uuid4().hex[:8]}"
    registry.push(repo, "1.0.0")
    image = api.parse_image(f"{token_gate.host}/{repo}")
    creds = registryauth.Credentials(token_gate.username, token_gate.password)
    assert await api.list_tags(image, creds, insecure=True) == ["1.0.0"]
    with pytest.raises(api.RegistryError) as denied:
        await api.list_tags(image, None, insecure=True)
    assert denied.value.reason == api.AUTHENTICATION_FAILED
    assert "without credentials" in denied.value.message
    missing = api.parse_image(f"{registry.host}/team/none-{uuid.uuid4().hex[:8]}")
    with pytest.raises(api.RegistryError, match="not found"):
        await api.list_tags(missing, None, insecure=True)
    with pytest.raises(api.RegistryError) as tls:
        await api.list_tags(image, creds, insecure=False, timeout=10)  # https to an http port
    assert tls.value.reason == api.READ_FAILED
