"""What each Provider type sends: the URL, headers and body of one HTTP POST per event.

Pure functions over a resolved `Destination` (address, token, headers, TLS and proxy,
read from the Provider and its Secrets by the dispatcher) and a `FluxEvent`:

    generic        the event as JSON (Flux's event schema), header gotk-component
    generic-hmac   the same, signed: X-Signature: sha256=<hex HMAC of the body, key token>
    slack, rocket  a Slack incoming-webhook message, one attachment per event
    discord        the Slack message, to Discord's Slack-compatible endpoint (/slack)
    msteams        an Office 365 connector MessageCard
    googlechat     a Google Chat card message
    alertmanager   one alert in Alertmanager's v2 API list format
    github         a commit status on the event's revision (GitHub or GitHub Enterprise)
    gitlab         a commit status on the event's revision (GitLab's v4 API)

Another type raises `Unsupported`; the Alert gets an event saying so. A commit status
needs a commit: events without a revision are not sent (`build` returns None).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from kidp_gitops.api.notification import SENDS_TO
from kidp_gitops.notification.event import FluxEvent

FLUX_ICON = "https://avatars.githubusercontent.com/u/52158677"
SUPPORTED = SENDS_TO
COMMIT_STATUS = ("github", "gitlab")


class Unsupported(ValueError):
    """A Provider type (or a Provider without what its type needs) we cannot send to."""


@dataclass(frozen=True)
class Destination:
    type: str
    address: str
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    channel: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    """With `username`, basic authentication for the types that take it (alertmanager)."""
    proxy: str | None = None
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 15.0
    provider_uid: str = ""
    status_name: str | None = None
    """The commit status's name, as the Provider's `commitStatusExpr` made it; Flux's
    default name when None."""

    def redacted(self) -> str:
        """The address without path, query or credentials: safe to show anywhere."""
        parts = urlsplit(self.address)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class Post:
    url: str
    headers: dict[str, str]
    body: bytes


def build(dest: Destination, event: FluxEvent) -> Post | None:
    """The request `dest` receives for `event`, None when there is nothing to send
    (raises Unsupported)."""
    if dest.type not in SUPPORTED:
        raise Unsupported(f"provider type '{dest.type}' is not supported")
    if not dest.address:
        raise Unsupported(f"provider type '{dest.type}' needs an address (spec or secret)")
    headers = {"Content-Type": "application/json", **dest.headers}
    if dest.type in COMMIT_STATUS:
        return commit_status(dest, event, headers)
    url = dest.address
    payload: Any
    if dest.type in ("generic", "generic-hmac"):
        headers["gotk-component"] = event.reporting_controller
        body = _dump(event.to_json())
        if dest.type == "generic-hmac":
            if not dest.token:
                raise Unsupported("provider type 'generic-hmac' needs a token in its secret")
            headers["X-Signature"] = "sha256=" + sign(dest.token, body)
        return Post(url, headers, body)
    if dest.type in ("slack", "rocket"):
        payload = slack_message(dest, event)
        if dest.token and dest.type == "slack":
            headers["Authorization"] = f"Bearer {dest.token}"
    elif dest.type == "discord":
        payload = slack_message(dest, event)
        url = _discord_url(url)
    elif dest.type == "msteams":
        payload = teams_card(event)
    elif dest.type == "googlechat":
        payload = google_chat_card(event)
    else:  # alertmanager
        payload = [alertmanager_alert(event)]
        if dest.token:  # over basic authentication, as Flux
            headers["Authorization"] = f"Bearer {dest.token}"
        elif dest.password is not None:
            pair = f"{dest.username or ''}:{dest.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return Post(url, headers, _dump(payload))


def sign(key: str, body: bytes) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _dump(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _fields(event: FluxEvent) -> list[tuple[str, str]]:
    return sorted(event.metadata.items())


def slack_message(dest: Destination, event: FluxEvent) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "color": "danger" if event.severity == "error" else "good",
        "author_name": str(event.involved_object),
        "text": event.message,
        "mrkdwn_in": ["text"],
    }
    fields = _fields(event)
    if fields:
        attachment["fields"] = [{"title": k, "value": v, "short": False} for k, v in fields]
    message: dict[str, Any] = {"icon_url": FLUX_ICON, "attachments": [attachment]}
    if dest.channel:
        message["channel"] = dest.channel
    if dest.username:
        message["username"] = dest.username
    return message


def _discord_url(address: str) -> str:
    parts = urlsplit(address)
    path = parts.path if parts.path.endswith("/slack") else parts.path.rstrip("/") + "/slack"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def teams_card(event: FluxEvent) -> dict[str, Any]:
    facts = [{"name": k, "value": v} for k, v in _fields(event)]
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000" if event.severity == "error" else "0076D7",
        "summary": str(event.involved_object),
        "sections": [
            {
                "activityTitle": str(event.involved_object),
                "activitySubtitle": event.message,
                "facts": facts,
            }
        ],
    }


def google_chat_card(event: FluxEvent) -> dict[str, Any]:
    widgets: list[dict[str, Any]] = [{"textParagraph": {"text": event.message}}]
    widgets += [{"keyValue": {"topLabel": k, "content": v}} for k, v in _fields(event)]
    return {
        "cards": [
            {
                "header": {
                    "title": str(event.involved_object),
                    "subtitle": event.severity,
                },
                "sections": [{"widgets": widgets}],
            }
        ]
    }


def alertmanager_alert(event: FluxEvent) -> dict[str, Any]:
    o = event.involved_object
    labels = {
        "alertname": f"Flux{o.kind}{event.reason[:1].upper()}{event.reason[1:]}",
        "severity": event.severity,
        "reason": event.reason,
        "kind": o.kind,
        "name": o.name,
        "namespace": o.namespace,
    }
    annotations = {"message": event.message}
    for key, value in event.metadata.items():
        if key == "summary":
            annotations["summary"] = value
        else:
            labels.setdefault(key, value)
    return {"labels": labels, "annotations": annotations, "startsAt": event.timestamp}


def commit_sha(revision: str | None) -> str | None:
    """The commit of a revision: `main@sha1:<hex>`, `sha1:<hex>` or a bare hex digest."""
    if not revision:
        return None
    candidate = revision.rsplit(":", 1)[-1] if ":" in revision else revision.rsplit("@", 1)[-1]
    if len(candidate) in (40, 64) and all(c in "0123456789abcdef" for c in candidate):
        return candidate
    return None


def commit_status(dest: Destination, event: FluxEvent, headers: dict[str, str]) -> Post | None:
    sha = commit_sha(event.revision)
    if sha is None:
        return None
    if not dest.token:
        raise Unsupported(f"provider type '{dest.type}' needs a token in its secret")
    parts = urlsplit(dest.address.removesuffix(".git"))
    repo = parts.path.strip("/")
    if repo.count("/") < 1:
        raise Unsupported(f"provider type '{dest.type}' needs a repository URL as address")
    o = event.involved_object
    # Flux's default name: kind/name/ and the first block of the Provider's UID, lowercase.
    context = dest.status_name or f"{o.kind}/{o.name}/{dest.provider_uid.split('-')[0]}".lower()
    description = event.message if len(event.message) <= 140 else event.message[:137] + "..."
    failed = event.severity == "error"
    if dest.type == "github":
        host = parts.netloc
        base = (
            "https://api.github.com"
            if host in ("github.com", "www.github.com")
            else f"{parts.scheme}://{host}/api/v3"
        )
        url = f"{base}/repos/{repo}/statuses/{sha}"
        headers["Authorization"] = f"Bearer {dest.token}"
        headers["Accept"] = "application/vnd.github+json"
        body = {"state": "failure" if failed else "success", "context": context}
    else:
        url = f"{parts.scheme}://{parts.netloc}/api/v4/projects/{quote(repo, safe='')}"
        url += f"/statuses/{sha}"
        headers["PRIVATE-TOKEN"] = dest.token
        body = {"state": "failed" if failed else "success", "name": context}
    body["description"] = description
    return Post(url, headers, _dump(body))
