"""The parts of the S3 client that need no server: endpoints as Flux's spec holds them,
URLs, and what is refused in what a server sends (tests/integration/source/test_bucket.py
runs the calls against a real server)."""

from __future__ import annotations

import pytest
from aiohttp import web

from kidp_gitops.runtime import outbound
from kidp_gitops.s3 import client as s3


@pytest.mark.parametrize(
    ("endpoint", "insecure", "base"),
    [
        ("minio.example:9000", True, "http://minio.example:9000"),
        ("s3.amazonaws.com", False, "https://s3.amazonaws.com"),
        ("https://storage.example/", False, "https://storage.example"),
    ],
)
def test_an_endpoint_is_host_and_port_with_the_scheme_from_insecure(
    endpoint: str, insecure: bool, base: str
) -> None:
    assert s3.Endpoint.parse(endpoint, insecure=insecure).base == base


@pytest.mark.parametrize("endpoint", ["host:9000/bucket", "ftp://host", "https://u:p@host", ""])
def test_an_endpoint_with_a_path_or_credentials_is_refused(endpoint: str) -> None:
    with pytest.raises(s3.S3Error):
        s3.Endpoint.parse(endpoint, insecure=False)


def test_buckets_are_addressed_by_path_except_on_aws_hosts() -> None:
    local = s3.Client(s3.Endpoint.parse("127.0.0.1:9000", insecure=True), "manifests")
    assert local.url("apps/a b.yaml") == "http://127.0.0.1:9000/manifests/apps/a%20b.yaml"
    assert local.url("", {"list-type": "2", "prefix": "a/"}) == (
        "http://127.0.0.1:9000/manifests?list-type=2&prefix=a%2F"
    )
    aws = s3.Client(s3.Endpoint.parse("s3.eu-west-1.amazonaws.com", insecure=False), "manifests")
    assert aws.url("k") == "https://manifests.s3.eu-west-1.amazonaws.com/k"
    dotted = s3.Client(s3.Endpoint.parse("s3.amazonaws.com", insecure=False), "a.b.c")
    assert dotted.url("k") == "https://s3.amazonaws.com/a.b.c/k"


def test_xml_with_a_dtd_is_refused_before_parsing() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(s3.S3Error, match="DTD"):
        s3._parse(bomb)


def test_a_dtd_in_another_encoding_is_refused_too() -> None:
    # The byte search for "<!DOCTYPE" cannot see it in UTF-16; expat can.
    text = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY e "injected">]>'
        "<ListBucketResult><Contents><Key>&e;</Key></Contents></ListBucketResult>"
    )
    with pytest.raises(s3.S3Error, match="DTD"):
        s3._parse(text.encode("utf-16"))


async def test_an_endless_listing_of_empty_pages_ends_with_an_error() -> None:
    # A hostile server: always truncated, never an object, a new token each time.
    served = 0

    async def page(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        return web.Response(
            body=(
                "<ListBucketResult><IsTruncated>true</IsTruncated>"
                f"<NextContinuationToken>t{served}</NextContinuationToken></ListBucketResult>"
            ).encode(),
            content_type="application/xml",
        )

    app = web.Application()
    app.router.add_get("/{bucket}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    http = outbound.Outbound()
    token = outbound.install(http)
    try:
        bucket = s3.Client(s3.Endpoint.parse(f"127.0.0.1:{port}", insecure=True), "b")
        with pytest.raises(s3.S3Error, match="past 12 pages"):
            async for _ in bucket.objects(limit=2000):
                pass
        assert served == 12
    finally:
        outbound.uninstall(token)
        await http.close()
        await runner.cleanup()


def test_namespaces_are_dropped_from_a_listing() -> None:
    page = s3._parse(
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Contents><Key>a</Key><ETag>&quot;e&quot;</ETag></Contents></ListBucketResult>"
    )
    assert page.findtext("Contents/Key") == "a"
    assert page.findtext("Contents/ETag") == '"e"'


def test_long_keys_are_cut_in_messages() -> None:
    assert len(s3.cut("k" * 1000)) == 201
