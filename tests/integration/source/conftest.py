"""Fixtures of the source tests: the S3-compatible server, one per test process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.source.s3server import S3Server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server
