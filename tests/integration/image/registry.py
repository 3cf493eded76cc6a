"""The tests' container registry: go-containerregistry's `registry` (built from its Go
module by hack/registry/build.sh) on 127.0.0.1, with tags pushed by its `crane`.

`TokenGate` puts the Docker token flow in front of it, as Docker Hub and GHCR do: a
`/v2/` request without a valid bearer token gets a 401 naming a token realm, and the
realm hands out a token only for the right basic-auth credentials.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

import aiohttp
from aiohttp import web

from kidp_gitops.devcluster.cluster import free_port

REGISTRY_VERSION = "v0.22.1"  # keep in step with hack/registry/build.sh
REPO_ROOT = Path(__file__).resolve().parents[3]


def binaries() -> Path:
    """The bin directory of registry and crane, built on first use (cached)."""
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "hack/registry/build.sh")],
        env={**os.environ, "GGCR_VERSION": REGISTRY_VERSION},
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip().splitlines()[-1])


class Registry:
    """A registry process on 127.0.0.1:<port>, serving plain HTTP."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix="registry-"))
        self._layer = self._tmp / "layer.tar"
        with tarfile.open(self._layer, "w"):
            pass  # an empty layer: crane needs one tarball to append

    def __enter__(self) -> Registry:
        self._proc = subprocess.Popen(
            [str(self.bin / "registry"), "-port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)

    def push(self, repository: str, *tags: str) -> None:
        """Push an (empty) image to `repository` under every tag."""
        for tag in tags:
            subprocess.run(
                [
                    str(self.bin / "crane"),
                    "append",
                    "--insecure",
                    "-f",
                    str(self._layer),
                    "-t",
                    f"{self.host}/{repository}:{tag}",
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "HOME": str(self._tmp)},
            )

    def digest(self, repository: str, tag: str) -> str:
        """The manifest digest of `repository:tag`, as crane reads it."""
        done = subprocess.run(
            [str(self.bin / "crane"), "digest", "--insecure", f"{self.host}/{repository}:{tag}"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "HOME": str(self._tmp)},
        )
        return done.stdout.strip()


class TokenGate:
    """A token-authenticated front of a Registry, in the test's event loop."""

    def __init__(self, upstream: Registry, username: str = "robot"):
        self.upstream = upstream
        self.username = username
        self.password = secrets.token_urlsafe(16)
        self._tokens: set[str] = set()
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/token", self._token)
        app.router.add_get("/v2/{tail:.*}", self._proxy)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)  # not 60 s for a request in flight
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if header != f"Basic {expected}":
            return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401)
        token = secrets.token_hex(16)
        self._tokens.add(token)
        return web.json_response({"token": token})

    async def _proxy(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if header.removeprefix("Bearer ") not in self._tokens:
            realm = f"http://{self.host}/token"
            scope = f"repository:{request.match_info['tail'].rsplit('/tags', 1)[0]}:pull"
            challenge = f'Bearer realm="{realm}",service="gate",scope="{scope}"'
            return web.json_response(
                {"errors": [{"code": "UNAUTHORIZED"}]},
                status=401,
                headers={"WWW-Authenticate": challenge},
            )
        url = f"http://{self.upstream.host}{request.path_qs}"
        accept = {"Accept": request.headers.get("Accept", "*/*")}
        async with (
            aiohttp.ClientSession() as http,
            http.request(request.method, url, headers=accept) as resp,
        ):
            body = await resp.read()
            kept = ("Content-Type", "Link", "Docker-Content-Digest")
            headers = {k: v for k, v in resp.headers.items() if k in kept}
            return web.Response(body=body, status=resp.status, headers=headers)
