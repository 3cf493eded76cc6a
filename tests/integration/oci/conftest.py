"""Fixtures of the OCI tests: one registry (go-containerregistry's, plain HTTP on
loopback) and the flux CLI for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.image.registry import Registry, TokenGate
from tests.integration.oci import flux


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


@pytest.fixture(scope="session")
def flux_cli() -> Path:
    return flux.binary()
