"""One GET with the standard library, for a command that must answer at once.

TAB completion lists the names of a kind with one request; loading aiohttp for it costs
more than everything else the completion does (issue 13: ~250 ms of imports). This
module sends that request with `http.client`, synchronously, for the kubeconfigs that
`config.read_static` understands (a client certificate or a static token). For any
other — exec plugins, OIDC, proxies, in-cluster — `get` answers None and the caller
uses `KubeClient`, the one client of everything else.

Errors are those of `kube.errors`: ConfigError, ConnectionFailed, ApiError.
"""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from kidp_gitops.kube import config
from kidp_gitops.kube.errors import ApiError, ConnectionFailed

JSON = dict[str, Any]

# An answer bigger than this is not a list of names a shell should show.
MAX_BODY = 16 * 1024 * 1024


def get(
    path: str,
    params: dict[str, str] | None = None,
    *,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    timeout: float = 5.0,
) -> JSON | None:
    """The JSON the API server answers to GET `path`; None when the kubeconfig needs
    the full client (`KubeClient`)."""
    source = config.kubeconfig_file(kubeconfig)
    found = config.read_static(source, context) if source else None
    if found is None:
        return None
    url = urlsplit(found.server)
    connection: http.client.HTTPConnection
    if url.scheme == "https":
        tls = found.ssl_context or ssl.create_default_context()
        connection = http.client.HTTPSConnection(
            url.hostname or "", url.port, timeout=timeout, context=tls
        )
    else:
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    headers = {"Accept": "application/json"}
    if found.token:
        headers["Authorization"] = f"Bearer {found.token}"
    target = url.path.rstrip("/") + path + (f"?{urlencode(params)}" if params else "")
    try:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        body = response.read(MAX_BODY + 1)
    except (OSError, http.client.HTTPException) as err:  # timeouts and TLS too
        raise ConnectionFailed(f"GET {found.server}{path}: {err}") from err
    finally:
        connection.close()
    if len(body) > MAX_BODY:
        raise ConnectionFailed(f"GET {found.server}{path}: answer larger than {MAX_BODY} bytes")
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = {}
    if response.status >= 400:
        detail = answer if isinstance(answer, dict) else {}
        message = str(detail.get("message") or body[:200].decode("utf-8", "replace"))
        raise ApiError(response.status, response.reason, message, detail)
    if not isinstance(answer, dict):
        raise ConnectionFailed(f"GET {found.server}{path}: the answer is not a JSON object")
    return answer
