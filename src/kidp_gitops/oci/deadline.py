"""One time budget for everything a reconcile asks of a registry.

A spec's timeout bounds each request, but a registry chooses how many requests a resolve
and a pull take (tag pages, a token per challenge, manifest, layer), so a hostile one could
hold a worker for pages times timeout. A Deadline is started once per reconcile and covers
each stretch of registry work; past it, `DeadlineExceeded` names the field.

    deadline = Deadline(spec.timeout.seconds, "spec.timeout")
    async with deadline.covering():
        pick = await resolve(registry, spec.ref)
    ...                                   # local work (extracting, storing) is not covered
    async with deadline.covering():
        await download(...)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kidp_gitops.oci.errors import OCIError


class DeadlineExceeded(OCIError):
    """The registry work of one reconcile took longer than its timeout."""


class Deadline:
    def __init__(self, seconds: float, field: str):
        self.seconds, self.field = seconds, field
        self.when = asyncio.get_running_loop().time() + seconds

    @asynccontextmanager
    async def covering(self) -> AsyncIterator[None]:
        """Cancel the work inside once the deadline passes, as `DeadlineExceeded`."""
        timeout = asyncio.timeout_at(self.when)
        try:
            async with timeout:
                yield
        except TimeoutError:
            if not timeout.expired():
                raise  # some other timeout, reported by whoever raised it
            raise DeadlineExceeded(
                f"the registry did not answer within {self.field} ({self.seconds:g}s)"
                " over all its requests"
            ) from None
