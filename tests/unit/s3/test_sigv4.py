"""SigV4 against the S3 examples AWS publishes (Signature Version 4, header-based
authentication: GET Object with a Range, and GET Bucket with a query), and the encoding
rules the examples do not cover."""

from __future__ import annotations

import datetime

from kidp_gitops.s3 import sigv4

CREDS = sigv4.Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
WHEN = datetime.datetime(2013, 5, 24, tzinfo=datetime.UTC)
SCOPE = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"


def test_get_object_with_a_range_is_signed_as_aws_documents() -> None:
    headers = sigv4.sign(
        CREDS,
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        "us-east-1",
        WHEN,
        headers={"Range": "bytes=0-9"},
    )
    assert headers["Authorization"] == (
        f"AWS4-HMAC-SHA256 Credential={SCOPE},"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert headers["Host"] == "examplebucket.s3.amazonaws.com"
    assert headers["X-Amz-Date"] == "20130524T000000Z"
    assert headers["X-Amz-Content-Sha256"] == sigv4.EMPTY_SHA256


def test_a_listing_query_is_sorted_before_signing() -> None:
    headers = sigv4.sign(
        CREDS,
        "GET",
        "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2",
        "us-east-1",
        WHEN,
    )
    assert headers["Authorization"].endswith(
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    )


def test_keys_and_query_values_are_encoded_once_the_rfc_3986_way() -> None:
    request, signed = sigv4.canonical_request(
        "get",
        "http://127.0.0.1:9000/bucket/a%20b/c+d~e.yaml?prefix=a%2Fb&list-type=2&flag",
        {"Host": "127.0.0.1:9000", "X-Amz-Date": "20130524T000000Z"},
        sigv4.EMPTY_SHA256,
    )
    lines = request.split("\n")
    assert lines[0] == "GET"
    assert lines[1] == "/bucket/a%20b/c%2Bd~e.yaml"
    assert lines[2] == "flag=&list-type=2&prefix=a%2Fb"
    assert signed == "host;x-amz-date"


def test_the_host_header_leaves_out_the_default_port_and_the_secret_never_shows() -> None:
    headers = sigv4.sign(CREDS, "GET", "https://s3.example:443/b", "eu-west-1", WHEN)
    assert headers["Host"] == "s3.example"
    assert CREDS.secret_key not in repr(CREDS)
    assert all(CREDS.secret_key not in v for v in headers.values())
