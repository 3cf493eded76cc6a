"""Listening on a port right after a restart.

A process killed with SIGKILL returns from `kill` before the kernel has torn it down;
a new engine started at once can find its ports still held for a moment and used to
exit with "address already in use" (2 restarts in 20 of a kill -9 drill). `serve`
waits that moment out: it retries the bind while the address is in use, for a few
seconds, and only then gives up with the same error.

    runner, port = await serve(app, host, port)     port 0 picks a free one
"""

from __future__ import annotations

import asyncio
import errno
import time

from aiohttp import web

PATIENCE = 10.0


async def serve(
    app: web.Application, host: str, port: int, *, patience: float = PATIENCE
) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port; the runner (clean it up to stop) and the bound port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    deadline = time.monotonic() + patience
    delay = 0.05
    while True:
        try:
            await web.TCPSite(runner, host, port).start()
            break
        except OSError as err:
            if err.errno != errno.EADDRINUSE or time.monotonic() + delay > deadline:
                await runner.cleanup()
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
    return runner, int(runner.addresses[0][1])
