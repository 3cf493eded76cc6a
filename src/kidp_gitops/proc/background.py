"""Clean-up handed to a worker thread, not waited for.

A reconcile that is done with a temporary tree should neither delete it on the event
loop (every controller shares it) nor wait for a worker thread to do it: that wait is
latency between a push and its apply. `discard(path)` starts the deletion and returns.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from pathlib import Path

_PENDING: set[asyncio.Future[None]] = set()


def discard(path: Path | str) -> None:
    """Delete the tree at `path` in a worker thread, soon; errors are ignored (a tree
    that is gone already, say). Call from the event loop."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, functools.partial(shutil.rmtree, path, True))
    _PENDING.add(future)  # a reference until it is done
    future.add_done_callback(_PENDING.discard)


async def settle() -> None:
    """Wait for every deletion started so far (at shutdown, and in tests)."""
    if _PENDING:
        await asyncio.gather(*list(_PENDING), return_exceptions=True)
