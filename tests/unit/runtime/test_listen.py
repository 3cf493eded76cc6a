"""A restarted engine waits a moment for its ports instead of exiting."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from aiohttp import web

from kidp_gitops.runtime import listen


def held_port() -> socket.socket:
    """A listening socket on a loopback port, as a dying process still holds it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def test_a_port_freed_a_moment_later_is_taken() -> None:
    sock = held_port()
    port = sock.getsockname()[1]
    asyncio.get_running_loop().call_later(0.3, sock.close)
    runner, bound = await listen.serve(web.Application(), "127.0.0.1", port, patience=5)
    try:
        assert bound == port
    finally:
        await runner.cleanup()


async def test_a_port_held_for_good_fails_with_the_same_error() -> None:
    sock = held_port()
    try:
        with pytest.raises(OSError, match="address already in use") as caught:
            await listen.serve(web.Application(), "127.0.0.1", sock.getsockname()[1], patience=0.3)
        assert caught.value.errno == errno.EADDRINUSE
    finally:
        sock.close()
