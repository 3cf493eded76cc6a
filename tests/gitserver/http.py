"""A git smart-HTTP server: the real `git http-backend` (CGI) behind a small aiohttp server.

Each request runs `git http-backend` once with the CGI environment it expects; the request
body is streamed to it untouched (git itself inflates gzip bodies, so aiohttp's own
decompression is off) and its response is streamed back. Every request must carry HTTP
basic credentials (or the bearer token, when one is set); anything else gets 401 with a
`WWW-Authenticate` challenge. Pushes are accepted (`http.receivepack`). With `tls=True`
it serves https with a self-signed certificate of its own (`certificate`).

The server runs on its own event loop in a thread, so blocking clients (the `git`
program run with `subprocess.run`) and async tests can both use it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import os
import secrets
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from aiohttp import web

from tests.gitserver.keys import Certificate, self_signed_certificate

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    """What the server saw: method, path, query, and the user it authenticated (or None)."""

    method: str
    path: str
    query: str
    user: str | None
    status: int


class GitHttpServer:
    """Smart HTTP for the bare repositories under `root` (`/<name>.git`)."""

    def __init__(
        self,
        root: Path,
        username: str = "flux",
        password: str | None = None,
        bearer_token: str | None = None,
        tls: bool = False,
    ):
        self.root = root
        # With TLS, clients trust `certificate.cert` (a self-signed CA) to reach https://.
        self.certificate: Certificate | None = self_signed_certificate() if tls else None
        self.username = username
        self.password = password or secrets.token_urlsafe(18)
        self.bearer_token = bearer_token
        self.port = 0
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._home = Path(tempfile.mkdtemp(prefix="git-http-home-"))

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
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        # Bodies reach git as the client sent them: http-backend inflates gzip itself.
        self._runner = web.AppRunner(app, auto_decompress=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls())
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def _tls(self) -> ssl.SSLContext | None:
        if self.certificate is None:
            return None
        (self._home / "tls.crt").write_bytes(self.certificate.cert)
        (self._home / "tls.key").write_bytes(self.certificate.key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._home / "tls.crt", self._home / "tls.key")
        return context

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

    def served(self, service: str) -> int:
        """How many requests ran `service` (e.g. "git-upload-pack") by POST."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == "POST" and r.path.endswith(service))

    def _authenticate(self, header: str) -> str | None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            ok = hmac.compare_digest(user, self.username)
            return user if hmac.compare_digest(password, self.password) and ok else None
        if scheme.lower() == "bearer" and self.bearer_token is not None:
            return "bearer" if hmac.compare_digest(value.strip(), self.bearer_token) else None
        return None

    def _record(self, request: web.BaseRequest, user: str | None, status: int) -> None:
        with self._lock:
            self.requests.append(
                Request(request.method, request.path, request.query_string, user, status)
            )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        user = self._authenticate(request.headers.get("Authorization", ""))
        if user is None:
            self._record(request, None, 401)
            return web.Response(
                status=401,
                text="authentication required\n",
                headers={"WWW-Authenticate": 'Basic realm="kidp-gitops test git"'},
            )
        return await self._cgi(request, user)

    def _environment(self, request: web.Request, user: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": f"HTTP/{request.version.major}.{request.version.minor}",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "REMOTE_USER": user,
            "REMOTE_ADDR": request.remote or "127.0.0.1",
        }
        if "Content-Length" in request.headers:
            env["CONTENT_LENGTH"] = request.headers["Content-Length"]
        for header in ("Content-Encoding", "Git-Protocol"):
            if header in request.headers:
                env["HTTP_" + header.upper().replace("-", "_")] = request.headers[header]
        return env

    async def _cgi(self, request: web.Request, user: str) -> web.StreamResponse:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            env=self._environment(request, user),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
        if stdin is None or stdout is None or stderr is None:
            raise RuntimeError("git http-backend started without pipes")

        async def feed() -> None:
            with contextlib.suppress(ConnectionError):
                async for chunk in request.content.iter_chunked(CHUNK):
                    stdin.write(chunk)
                    await stdin.drain()
            stdin.close()

        feeding = asyncio.create_task(feed())
        errors = asyncio.create_task(stderr.read())
        try:
            status, headers = await self._cgi_headers(stdout)
            response = web.StreamResponse(status=status, headers=headers)
            await response.prepare(request)
            while chunk := await stdout.read(CHUNK):
                await response.write(chunk)
            await response.write_eof()
            self._record(request, user, status)
            return response
        finally:
            # A client that went away leaves git waiting for input: end it.
            if proc.returncode is None and not stdout.at_eof():
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            feeding.cancel()
            await asyncio.gather(feeding, errors, return_exceptions=True)
            await proc.wait()

    @staticmethod
    async def _cgi_headers(out: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        status, headers = 200, {}
        while line := (await out.readline()).decode("latin-1").rstrip("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            else:
                headers[name.strip()] = value.strip()
        return status, headers
