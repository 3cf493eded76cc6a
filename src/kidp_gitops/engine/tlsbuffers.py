"""How much each TLS connection of the process reads at once.

asyncio gives every TLS connection a read buffer of its own, allocated and zeroed when
it connects: `asyncio.sslproto.SSLProtocol.max_size`, 256 KiB. An engine keeps ~20 such
connections open — one watch per informer, and the API client's pool — so the buffers
were 5.8 MiB of every process (a shard's tracemalloc report, bench/RESULTS.md), paid
again by each shard. At 64 KiB they are a quarter of that; an answer larger than the
buffer is read in more calls of the same loop (a 5 MB list: 80 reads instead of 20),
which the informers' lists and watches do not notice.

`shrink` sets it for the whole process: `kidp controller run` calls it before it
connects to anything. The attribute is asyncio's (3.11 to 3.13); where it is missing the
setting does nothing.
"""

from __future__ import annotations

from asyncio import sslproto

READ_BUFFER = 64 * 1024


def shrink(size: int = READ_BUFFER) -> None:
    """Give every TLS connection made from now on a read buffer of `size` bytes."""
    if isinstance(getattr(sslproto.SSLProtocol, "max_size", None), int):
        sslproto.SSLProtocol.max_size = size
