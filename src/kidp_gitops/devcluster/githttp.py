"""A git smart-HTTP endpoint: the real `git http-backend` (CGI) behind aiohttp.

Each request runs `git http-backend` once with the CGI environment it expects; the body
is streamed to it untouched (git inflates gzip bodies itself, so aiohttp's decompression
is off) and its answer is streamed back. Every request must carry HTTP basic credentials
(or the bearer token, when one is set); anything else gets 401 with a `WWW-Authenticate`
challenge. Pushes are accepted (`http.receivepack`).

`kidp up` serves its example repository with it (`kidp dev git-server`), and the tests'
git server wraps the same class.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    """What the server saw: method, path, query, and the user it authenticated (or None)."""

    method: str
    path: str
    query: str
    user: str | None
    status: int


class GitHttpBackend:
    """Smart HTTP for the bare repositories under `root` (`/<name>.git`)."""

    def __init__(
        self, root: Path, username: str, password: str, home: Path, bearer_token: str | None = None
    ):
        self.root = root
        self.username = username
        self.password = password
        self.bearer_token = bearer_token
        self.home = home  # git's HOME: empty, so no user config leaks in
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        return app

    def runner(self) -> web.AppRunner:
        # Bodies reach git as the client sent them: http-backend inflates gzip itself.
        return web.AppRunner(self.app(), auto_decompress=False, access_log=None)

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
                headers={"WWW-Authenticate": 'Basic realm="kidp-gitops git"'},
            )
        return await self._cgi(request, user)

    def _environment(self, request: web.Request, user: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
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
            # Recorded before the client can read a byte of the answer: a test that
            # counts requests once its git command returned sees this one too.
            self._record(request, user, status)
            response = web.StreamResponse(status=status, headers=headers)
            await response.prepare(request)
            while chunk := await stdout.read(CHUNK):
                await response.write(chunk)
            await response.write_eof()
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


async def serve(backend: GitHttpBackend, host: str, port: int) -> None:
    """Serve until cancelled (the `kidp dev git-server` process)."""
    runner = backend.runner()
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
