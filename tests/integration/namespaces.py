"""Namespaces a test makes for itself and deletes after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kidp_gitops.kube import ApiError, KubeClient


@asynccontextmanager
async def temporary(kube: KubeClient, name: str | None = None) -> AsyncIterator[str]:
    """A new namespace (`name`, else a fresh one) for the block, deleted after it."""
    name = name or f"t-{uuid.uuid4().hex[:10]}"
    await kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    try:
        yield name
    finally:
        await delete(kube, name)


async def delete(kube: KubeClient, name: str) -> None:
    try:
        await kube.delete(f"/api/v1/namespaces/{name}")
    except ApiError as err:
        if not err.not_found:
            raise
