"""Webhook calls from anyone who can reach the receiver: a verdict or `Rejected`, and
no signature check ever accepts a signature made with another key or over another body."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from kidp_gitops.notification import webhooks
from tests.unit.fuzz import harness

TYPES = [
    "generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor", "nexus",
    "dockerhub", "quay", "acr", "cdevents", "unknown",
]  # fmt: skip
# The header that carries each type's signature, and its prefix.
SIGNED = {
    "generic-hmac": ("X-Signature", "sha256="),
    "github": ("X-Hub-Signature-256", "sha256="),
    "bitbucket": ("X-Hub-Signature", "sha256="),
    "nexus": ("X-Nexus-Webhook-Signature", ""),
}
_HEADER_NAMES = [
    "X-Signature", "X-Hub-Signature-256", "X-Hub-Signature", "X-GitHub-Event",
    "X-Gitlab-Token", "X-Gitlab-Event", "X-Event-Key", "Authorization",
    "X-Nexus-Webhook-Signature", "ce-type",
]  # fmt: skip
_HEADER_VALUES = st.sampled_from(
    ["", "ping", "push", "sha1=", "sha256=", "sha512=00", "md5=ab", "diagnostics:ping", "é"]
) | st.text(max_size=20)
HEADERS = st.dictionaries(st.sampled_from(_HEADER_NAMES), _HEADER_VALUES, max_size=4)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
BODIES = (
    st.binary(max_size=64)
    | _JSON.map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"[" * 100_000, b'{"a":' * 50_000, b"\xff\xfe", b"1e999999"])
)


def _check(type_: str, headers: dict[str, str], body: bytes) -> webhooks.Verdict | None:
    try:
        return webhooks.check(type_, "token", ["push"], CIMultiDict(headers), body)
    except webhooks.Rejected as err:
        status = err.status
    assert status in (400, 401, 403)
    return None


@given(st.sampled_from(TYPES), HEADERS, BODIES)
@settings(max_examples=harness.examples(500))
@example("github", {"X-Hub-Signature-256": "sha256=é"}, b"")
@example("nexus", {"X-Nexus-Webhook-Signature": "\udcff"}, b"")
@example("gitlab", {"X-Gitlab-Token": "\udcff"}, b"")
@example("quay", {}, b"[" * 100_000)
@harness.bounded
def test_verdict_or_rejected(type_: str, headers: dict[str, str], body: bytes) -> None:
    verdict = _check(type_, headers, body)
    assert verdict is None or isinstance(verdict, webhooks.Verdict)


def _sign(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@given(
    st.sampled_from(sorted(SIGNED)),
    st.text(min_size=1, max_size=20).filter(lambda k: k != "token"),
    st.binary(max_size=64),
    st.binary(max_size=64),
    st.sampled_from(["", "sha1=", "sha256=", "sha512=", "SHA256=", " "]),
    HEADERS,
)
@settings(max_examples=harness.examples(500))
@harness.bounded
def test_no_wrong_signature_is_accepted(
    type_: str,
    other_key: str,
    body: bytes,
    other_body: bytes,
    prefix: str,
    headers: dict[str, str],
) -> None:
    header, _ = SIGNED[type_]
    # Signatures another key made over this body, or this key over another body, and
    # whatever else the headers hold: never accepted.
    forged = [_sign(other_key, body), *([_sign("token", other_body)] if other_body != body else [])]
    for digest in forged:
        for text in (prefix + digest, prefix + digest.upper(), digest):
            assert _check(type_, {**headers, header: text}, body) is None
    # The right one (sha1 for nexus) is.
    right = (
        hmac.new(b"token", body, hashlib.sha1).hexdigest()
        if type_ == "nexus"
        else "sha256=" + _sign("token", body)
    )
    events = {"X-GitHub-Event": "push", "X-Event-Key": "push"}
    assert _check(type_, {**events, header: right}, body) is not None


@given(st.text(max_size=30), st.text(max_size=30))
@settings(max_examples=harness.examples(300))
@harness.bounded
def test_token_headers_need_the_token(sent: str, header_type: str) -> None:
    del header_type
    for type_, header in (("gitlab", "X-Gitlab-Token"), ("harbor", "Authorization")):
        verdict = _check(type_, {header: sent, "X-Gitlab-Event": "push"}, b"")
        assert (verdict is not None) == (sent == "token")


@pytest.mark.parametrize("path", harness.corpus("webhooks"))
def test_corpus(path: Path) -> None:
    body = path.read_bytes()
    for type_ in TYPES:
        harness.bounded(_check)(type_, {}, body)
