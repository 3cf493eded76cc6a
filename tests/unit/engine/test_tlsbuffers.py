"""An engine's TLS connections read through 64 KiB buffers, not asyncio's 256 KiB, and
an answer many times larger still arrives whole."""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from pathlib import Path

import pytest

from kidp_gitops.devcluster import pki
from kidp_gitops.engine import tlsbuffers

ANSWER = bytes(range(256)) * 4096  # 1 MiB


async def test_a_connection_reads_a_large_answer_through_a_small_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sslproto.SSLProtocol, "max_size", sslproto.SSLProtocol.max_size)
    tlsbuffers.shrink()
    certs = pki.create(tmp_path, {})
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(certs.serving_cert, certs.serving_key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ANSWER)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=serving)
    port = server.sockets[0].getsockname()[1]
    client = ssl.create_default_context(cafile=str(certs.ca_cert))
    async with server:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname="localhost"
        )
        protocol = writer.transport._ssl_protocol  # type: ignore[attr-defined]
        assert len(protocol._ssl_buffer) == 64 * 1024
        assert await reader.read() == ANSWER
        writer.close()
