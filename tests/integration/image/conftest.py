"""Fixtures of the image automation tests: one registry for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.integration.image.registry import Registry, TokenGate


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    with Registry() as reg:
        yield reg


@pytest.fixture
async def token_gate(registry: Registry) -> AsyncIterator[TokenGate]:
    gate = TokenGate(registry)
    await gate.start()
    yield gate
    await gate.stop()
