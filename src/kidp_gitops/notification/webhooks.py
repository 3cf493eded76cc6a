"""Is this webhook call genuine, and is it one to act on? One check per Receiver type.

`check(type, token, events, headers, body)` returns `Verdict.ACT` (reconcile the
resources) or `Verdict.PONG` (a ping: answer, do nothing), or raises `Rejected` with
the HTTP status to answer:

    401  the call is not authenticated (missing or wrong signature or token)
    403  authenticated, but its event type is not in the Receiver's `events`
    400  the payload is not what the sender type sends

    generic        the secret path is the credential
    generic-hmac   X-Signature: sha1=… | sha256=… | sha512=… (HMAC of the body, key token)
    github         X-Hub-Signature-256 (or X-Hub-Signature, sha1); X-GitHub-Event; ping
    gitlab         X-Gitlab-Token equals the token; X-Gitlab-Event
    bitbucket      X-Hub-Signature (Bitbucket Server, sha256); X-Event-Key; diagnostics:ping
    harbor         Authorization equals the token
    nexus          X-Nexus-Webhook-Signature (HMAC-SHA1 of the body)
    dockerhub, quay, acr   the secret path, and a payload of the sender's shape
    cdevents       the secret path; the ce-type header against `events`
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


class Verdict(enum.Enum):
    ACT = "act"
    PONG = "pong"


class Rejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def _hmac_ok(token: str, body: bytes, signature: str | None, default_algo: str = "") -> bool:
    if not signature:
        return False
    algo, sep, digest = signature.partition("=")
    if not sep:
        algo, digest = default_algo, signature
    hasher = _DIGESTS.get(algo.lower())
    if hasher is None:
        return False
    expected = hmac.new(token.encode(), body, hasher).hexdigest()
    # As bytes: compare_digest raises TypeError for a str that is not ASCII.
    given = digest.strip().lower().encode("utf-8", "surrogatepass")
    return hmac.compare_digest(expected.encode(), given)


def _equal(a: str | None, b: str) -> bool:
    # aiohttp hands undecodable header bytes over as lone surrogates, which plain
    # .encode() refuses with UnicodeEncodeError.
    return a is not None and hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def _allowed(event: str | None, events: list[str], sender: str) -> None:
    if events and (event or "").lower() not in {e.lower() for e in events}:
        raise Rejected(403, f"{sender} event '{event}' is not in the receiver's events")


def _json(body: bytes, sender: str) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise Rejected(400, f"the {sender} payload is not JSON") from None
    except RecursionError:  # how the json module refuses deep nesting ("[" * 100_000)
        raise Rejected(400, f"the {sender} payload nests too deeply") from None


def check(
    type_: str, token: str, events: list[str], headers: Mapping[str, str], body: bytes
) -> Verdict:
    """The verdict on one call; `headers` must be case-insensitive (as aiohttp's)."""
    if type_ == "generic":
        return Verdict.ACT
    if type_ == "generic-hmac":
        if not _hmac_ok(token, body, headers.get("X-Signature")):
            raise Rejected(401, "missing or invalid X-Signature")
        return Verdict.ACT
    if type_ == "github":
        signature = headers.get("X-Hub-Signature-256") or headers.get("X-Hub-Signature")
        if not _hmac_ok(token, body, signature):
            raise Rejected(401, "missing or invalid GitHub signature")
        event = headers.get("X-GitHub-Event")
        if event == "ping":
            return Verdict.PONG
        _allowed(event, events, "GitHub")
        return Verdict.ACT
    if type_ == "gitlab":
        if not _equal(headers.get("X-Gitlab-Token"), token):
            raise Rejected(401, "missing or invalid X-Gitlab-Token")
        _allowed(headers.get("X-Gitlab-Event"), events, "GitLab")
        return Verdict.ACT
    if type_ == "bitbucket":
        if not _hmac_ok(token, body, headers.get("X-Hub-Signature")):
            raise Rejected(401, "missing or invalid Bitbucket signature")
        event = headers.get("X-Event-Key")
        if event == "diagnostics:ping":
            return Verdict.PONG
        _allowed(event, events, "Bitbucket")
        return Verdict.ACT
    if type_ == "harbor":
        if not _equal(headers.get("Authorization"), token):
            raise Rejected(401, "missing or invalid Authorization")
        return Verdict.ACT
    if type_ == "nexus":
        if not _hmac_ok(token, body, headers.get("X-Nexus-Webhook-Signature"), "sha1"):
            raise Rejected(401, "missing or invalid X-Nexus-Webhook-Signature")
        return Verdict.ACT
    if type_ == "cdevents":
        _allowed(headers.get("ce-type"), events, "CDEvents")
        return Verdict.ACT
    payload = _json(body, type_)
    shapes = {
        "dockerhub": ("push_data", "repository"),
        "quay": ("docker_url", "updated_tags"),
        "acr": ("action", "target"),
    }
    wanted = shapes.get(type_)
    if wanted is None:
        raise Rejected(400, f"receiver type '{type_}' is not supported")
    if not isinstance(payload, dict) or any(k not in payload for k in wanted):
        raise Rejected(400, f"the payload is not a {type_} webhook")
    return Verdict.ACT
