"""A stand-in for the API client an informer reads from: one list answer, and the events
of one watch. For unit tests of what an informer keeps and what its readers see; the list
and watch themselves are proven against a real API server in the integration tests."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping, Sequence

from kidp_gitops.kube.client import JSON


class Server:
    max_items: int | None = None

    def __init__(self, items: list[JSON], events: Sequence[JSON] = ()) -> None:
        self.items = items
        self.events = list(events)

    async def pages(self, path: str, params: Mapping[str, str], accept: str) -> AsyncIterator[JSON]:
        yield {"metadata": {"resourceVersion": "10"}, "items": copy.deepcopy(self.items)}

    async def stream(
        self, path: str, params: Mapping[str, str], read_timeout: float, accept: str
    ) -> AsyncIterator[JSON]:
        for event in self.events:
            yield copy.deepcopy(event)
