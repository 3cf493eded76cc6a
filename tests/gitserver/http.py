"""The tests' git smart-HTTP server: kidp's `GitHttpBackend` (the real `git http-backend`
behind aiohttp, basic auth, optional bearer token, pushes) on an event loop of its own
in a thread, so blocking clients (`git` via subprocess) and async tests can both use it.
With `tls=True` it serves https with a self-signed certificate (`certificate`); with a
`client_certificate` too, it accepts only clients that present that one (mutual TLS).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from aiohttp import web

from kidp_gitops.devcluster.githttp import GitHttpBackend, Request
from tests.gitserver.keys import Certificate, self_signed_certificate, server_tls

__all__ = ["GitHttpServer", "Request"]


class GitHttpServer:
    """Smart HTTP for the bare repositories under `root` (`/<name>.git`)."""

    def __init__(
        self,
        root: Path,
        username: str = "flux",
        password: str | None = None,
        bearer_token: str | None = None,
        tls: bool = False,
        client_certificate: Certificate | None = None,
    ):
        self.root = root
        # With TLS, clients trust `certificate.cert` (a self-signed CA) to reach https://.
        self.certificate: Certificate | None = self_signed_certificate() if tls else None
        self.client_certificate = client_certificate
        self.username = username
        self.password = password or secrets.token_urlsafe(18)
        self.bearer_token = bearer_token
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._home = Path(tempfile.mkdtemp(prefix="git-http-home-"))
        self.backend = GitHttpBackend(root, self.username, self.password, self._home, bearer_token)

    def __enter__(self) -> GitHttpServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def url(self, name: str) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{name}.git"

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="git-http", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._begin(), loop).result(timeout=10)

    async def _begin(self) -> None:
        self._runner = self.backend.runner()
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls())
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def _tls(self) -> ssl.SSLContext | None:
        if self.certificate is None:
            return None
        return server_tls(self.certificate, self.client_certificate)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def end() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            loop.stop()

        asyncio.run_coroutine_threadsafe(end(), loop)
        thread.join(timeout=10)
        loop.close()
        shutil.rmtree(self._home, ignore_errors=True)

    @property
    def requests(self) -> list[Request]:
        return self.backend.requests

    def served(self, service: str) -> int:
        """How many requests ran `service` (e.g. "git-upload-pack") by POST."""
        return self.backend.served(service)
