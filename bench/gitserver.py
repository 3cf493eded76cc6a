"""`python -m bench.gitserver`: the engine's git smart-HTTP server, counting what it serves.

The same `GitHttpBackend` that `kidp dev git-server` runs (the real `git http-backend`
behind aiohttp, basic auth), plus two loopback-only endpoints for the bench:

    GET  /_bench/stats   what was served since the last reset, as JSON
    POST /_bench/reset   start counting again

Every request is sorted into one kind:

    info_refs     GET …/info/refs?service=git-upload-pack   (the start of any fetch)
    ls_refs       POST …/git-upload-pack answered without a pack (protocol v2 ls-refs,
                  or a negotiation round): what `git ls-remote` costs after info_refs
    download      POST …/git-upload-pack answered with a pack (objects transferred)
    receive_pack  anything about pushes
    other         the rest (401 challenges included)

A download is recognised by the answer itself: protocol v2 sends a `packfile` section
header, protocol v0 a `PACK` signature, within its first bytes. Bytes are body bytes
(HTTP headers not counted), in = what the client sent, out = what the server answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import secrets
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from aiohttp import web

from kidp_gitops.devcluster.githttp import GitHttpBackend

_SNIFF_BYTES = 16 * 1024
_CURRENT: contextvars.ContextVar[_Answer] = contextvars.ContextVar("answer")


class _Answer:
    """What the server answered one request: its size and whether it held a pack."""

    def __init__(self) -> None:
        self.bytes_out = 0
        self._head = b""

    def feed(self, chunk: bytes) -> None:
        self.bytes_out += len(chunk)
        if len(self._head) < _SNIFF_BYTES:
            self._head += chunk[: _SNIFF_BYTES - len(self._head)]

    @property
    def has_pack(self) -> bool:
        return b"packfile\n" in self._head or b"PACK\x00\x00\x00" in self._head


class Counts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.totals: dict[str, dict[str, int]] = defaultdict(
                lambda: {"requests": 0, "bytes_in": 0, "bytes_out": 0}
            )
            self.by_repo: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, repo: str, kind: str, bytes_in: int, bytes_out: int) -> None:
        with self._lock:
            total = self.totals[kind]
            total["requests"] += 1
            total["bytes_in"] += bytes_in
            total["bytes_out"] += bytes_out
            self.by_repo[repo][kind] += 1

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "totals": {k: dict(v) for k, v in self.totals.items()},
                "by_repo": {r: dict(k) for r, k in self.by_repo.items()},
            }


def classify(method: str, path: str, query: str, status: int, has_pack: bool) -> str:
    if status == 401:
        return "other"
    if "receive-pack" in path or "receive-pack" in query:
        return "receive_pack"
    if method == "GET" and path.endswith("/info/refs"):
        return "info_refs"
    if method == "POST" and path.endswith("/git-upload-pack"):
        return "download" if has_pack else "ls_refs"
    return "other"


def repo_of(path: str) -> str:
    for part in path.strip("/").split("/"):
        if part.endswith(".git"):
            return part[: -len(".git")]
    return ""


class CountingBackend(GitHttpBackend):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.counts = Counts()

    async def _cgi(self, request: web.Request, user: str) -> web.StreamResponse:
        answer = _Answer()
        token = _CURRENT.set(answer)
        status = 500
        try:
            response = await super()._cgi(request, user)
            status = response.status
            return response
        finally:
            _CURRENT.reset(token)
            kind = classify(
                request.method, request.path, request.query_string, status, answer.has_pack
            )
            self.counts.add(
                repo_of(request.path), kind, request.content.total_bytes, answer.bytes_out
            )

    async def _cgi_headers(self, out: asyncio.StreamReader) -> tuple[int, dict[str, str]]:  # type: ignore[override]
        answer = _CURRENT.get(None)
        result = await GitHttpBackend._cgi_headers(out)
        if answer is not None:
            read = out.read

            async def counted(n: int = -1) -> bytes:
                chunk = await read(n)
                answer.feed(chunk)
                return chunk

            out.read = counted  # type: ignore[method-assign]
        return result

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        if response.status == 401:
            self.counts.add(repo_of(request.path), "other", 0, 0)
        return response

    def bench_app(self) -> web.Application:
        app = web.Application()

        async def stats(_: web.Request) -> web.Response:
            return web.json_response(self.counts.as_dict())

        async def reset(_: web.Request) -> web.Response:
            self.counts.reset()
            return web.json_response({"reset": True})

        app.router.add_get("/_bench/stats", stats)
        app.router.add_post("/_bench/reset", reset)
        app.router.add_route("*", "/{path:.*}", self._handle)
        return app


async def serve(backend: CountingBackend, port: int) -> None:
    runner = web.AppRunner(backend.bench_app(), auto_decompress=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username", default="kidp")
    parser.add_argument("--password-file", type=Path)
    args = parser.parse_args()
    password = (
        args.password_file.read_text().strip() if args.password_file else secrets.token_urlsafe(18)
    )
    home = Path(tempfile.mkdtemp(prefix="bench-git-home-"))
    backend = CountingBackend(args.root.resolve(), args.username, password, home)
    print(json.dumps({"serving": str(args.root), "port": args.port}), flush=True)
    asyncio.run(serve(backend, args.port))


if __name__ == "__main__":
    main()
