"""Posting to a Provider: through the engine's outbound HTTP (`runtime/outbound.py`), a
timeout per Provider, its TLS and proxy, retries with backoff.

A connection error or a 5xx answer is retried (four times, waits doubling from half a
second, as Flux retries at most four times); a 4xx answer is final. `SendFailed` says
what went wrong with the address cut down to scheme and host: a Slack or Teams webhook
URL is a credential, so its path never reaches a log, an event or a status.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from kidp_gitops.notification.providers import Destination, Post
from kidp_gitops.runtime import outbound

log = logging.getLogger(__name__)


class SendFailed(Exception):
    """The event did not reach the Provider; the message is safe to show."""


class Sender:
    def __init__(
        self, retries: int = 4, backoff: float = 0.5, http: outbound.Outbound | None = None
    ):
        self.retries = retries
        self.backoff = backoff
        self.http = http
        """Where posts go out; None: the engine's outbound HTTP, which it closes."""

    async def send(self, dest: Destination, post: Post) -> None:
        delay = self.backoff
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            try:
                async with (self.http or outbound.current()).request(
                    "POST",
                    post.url,
                    data=post.body,
                    headers=post.headers,
                    proxy=dest.proxy,
                    tls=dest.ssl_context,
                    timeout=dest.timeout,
                ) as response:
                    await response.read()
                    if response.status < 300:
                        return
                    problem = f"{dest.redacted()} answered {response.status}"
                    if response.status < 500:
                        break  # the request is wrong: sending it again will not help
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                # Not str(err): aiohttp puts the whole URL in some of its messages.
                problem = f"could not reach {dest.redacted()}: {type(err).__name__}"
            log.debug("post to %s failed (attempt %d): %s", dest.redacted(), attempt + 1, problem)
        raise SendFailed(problem)
