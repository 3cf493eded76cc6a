"""A registry's pull secrets and its 401 challenge, against a real loopback server that
challenges as Docker Hub and GHCR do (Bearer with a token realm) or as a plain Basic
registry does."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from kidp_gitops.runtime import outbound, registryauth

WHERE = "ns/pull"
SCOPE = "repository:org/app:pull"


def pull_secret(auths: dict[str, object]) -> dict[str, bytes]:
    return {".dockerconfigjson": json.dumps({"auths": auths}).encode()}


def test_credentials_of_a_pull_secret() -> None:
    auth = base64.b64encode(b"bot:s3cret").decode()
    data = pull_secret(
        {"https://ghcr.io": {"auth": auth}, "quay.io": {"username": "u", "password": "p"}}
    )
    assert registryauth.from_pull_secret(data, "ghcr.io", WHERE) == registryauth.Credentials(
        "bot", "s3cret"
    )
    assert registryauth.from_pull_secret(data, "quay.io", WHERE) == registryauth.Credentials(
        "u", "p"
    )
    assert registryauth.from_pull_secret(data, "docker.io", WHERE) is None
    hub = pull_secret({"https://index.docker.io/v1/": {"username": "h", "password": "p"}})
    assert registryauth.from_pull_secret(hub, "docker.io", WHERE) == registryauth.Credentials(
        "h", "p"
    )
    # The older kubernetes.io/dockercfg names its hosts at the top level.
    old = {".dockercfg": json.dumps({"quay.io": {"auth": auth}}).encode()}
    assert registryauth.from_pull_secret(old, "quay.io", WHERE) == registryauth.Credentials(
        "bot", "s3cret"
    )
    assert "s3cret" not in repr(registryauth.Credentials("bot", "s3cret"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({".dockerconfigjson": b"{nope s3cret"}, "its .dockerconfigjson is not valid JSON"),
        ({"username": b"u"}, "has no .dockerconfigjson"),
        (pull_secret({"ghcr.io": {"auth": "not base64 s3cret!"}}), "is not base64"),
    ],
)
def test_an_unusable_pull_secret_says_why_without_its_data(
    data: dict[str, bytes], message: str
) -> None:
    with pytest.raises(registryauth.AuthError, match=message) as err:
        registryauth.from_pull_secret(data, "ghcr.io", WHERE)
    assert f"secret '{WHERE}'" in str(err.value)
    assert "s3cret" not in str(err.value)


@dataclass
class Registry:
    """A registry that asks for `scheme` (Bearer: tokens from /token for bot:pw)."""

    scheme: str = "Bearer"
    token_body: bytes | None = None
    """What /token answers instead of a token (a hostile token service)."""
    url: str = ""
    seen: list[tuple[str, str]] = field(default_factory=list)
    """(path, Authorization) of every request, in order."""
    token_queries: list[dict[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)

    async def token(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, request.headers.get("Authorization", "")))
        self.token_queries.append(dict(request.query))
        if self.token_body is not None:
            return web.Response(body=self.token_body)
        if request.headers.get("Authorization") != basic("bot", "pw"):
            return web.json_response({"errors": [{"code": "UNAUTHORIZED"}]}, status=401)
        token = f"t{len(self.tokens)}"
        self.tokens.add(token)
        return web.json_response({"access_token": token})

    async def v2(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        self.seen.append((request.path, header))
        if self.scheme == "Basic":
            allowed = header == basic("bot", "pw")
            challenge = 'Basic realm="registry"'
        else:
            allowed = header.removeprefix("Bearer ") in self.tokens
            challenge = f'{self.scheme} realm="{self.url}/token",service="reg"'
        if not allowed:
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        return web.json_response({"tags": ["1.0.0"]})


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.fixture
async def served() -> AsyncIterator[Registry]:
    registry = Registry()
    app = web.Application()
    app.router.add_get("/token", registry.token)
    app.router.add_route("*", "/v2/{tail:.*}", registry.v2)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    registry.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield registry
    await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[outbound.Outbound]:
    owner = outbound.Outbound()
    yield owner
    await owner.close()


def session(
    http: outbound.Outbound, registry: Registry, creds: registryauth.Credentials | None
) -> registryauth.Session:
    return registryauth.Session(http, registry.url, SCOPE, creds, origin=registry.url, timeout=10)


async def test_a_bearer_token_is_earned_once_and_kept(
    served: Registry, http: outbound.Outbound
) -> None:
    s = session(http, served, registryauth.Credentials("bot", "pw"))
    for page in ("a", "b"):
        async with s.request("GET", f"{served.url}/v2/org/app/tags/{page}") as resp:
            assert resp.status == 200
    assert served.seen == [
        ("/v2/org/app/tags/a", ""),
        ("/token", basic("bot", "pw")),
        ("/v2/org/app/tags/a", "Bearer t0"),
        ("/v2/org/app/tags/b", "Bearer t0"),
    ]
    # The challenge named no scope: the session's.
    assert served.token_queries == [{"service": "reg", "scope": SCOPE}]


async def test_refusals_carry_their_status(served: Registry, http: outbound.Outbound) -> None:
    wrong = session(http, served, registryauth.Credentials("bot", "wrong"))
    with pytest.raises(registryauth.AuthError) as err:
        async with wrong.request("GET", f"{served.url}/v2/org/app/tags/list"):
            pass
    assert err.value.status == 401
    assert "wrong" not in str(err.value)
    served.scheme = "Basic"
    async with session(http, served, registryauth.Credentials("bot", "pw")).request(
        "GET", f"{served.url}/v2/org/app/tags/list"
    ) as resp:
        assert resp.status == 200
    async with session(http, served, registryauth.Credentials("bot", "wrong")).request(
        "GET", f"{served.url}/v2/org/app/tags/list"
    ) as resp:
        assert resp.status == 401  # one challenge answered; the second 401 is the answer
    with pytest.raises(registryauth.AuthError, match="asks for credentials") as err:
        async with session(http, served, None).request("GET", f"{served.url}/v2/org/app/tags/list"):
            pass
    assert err.value.status == 401


@pytest.mark.parametrize(
    ("scheme", "token_body", "message"),
    [
        ("Negotiate", None, "unsupported scheme 'Negotiate'"),
        ("Bearer", b'{"expires_in": 60}', "sent no token"),
        ("Bearer", b"{" + b" " * registryauth.MAX_TOKEN_RESPONSE + b"}", "larger than"),
    ],
)
async def test_a_challenge_that_cannot_be_answered(
    served: Registry,
    http: outbound.Outbound,
    scheme: str,
    token_body: bytes | None,
    message: str,
) -> None:
    served.scheme, served.token_body = scheme, token_body
    with pytest.raises(registryauth.AuthError, match=message) as err:
        async with session(http, served, registryauth.Credentials("bot", "pw")).request(
            "GET", f"{served.url}/v2/org/app/tags/list"
        ):
            pass
    assert err.value.status is None


async def test_the_authorization_goes_only_to_the_registry_origin(
    served: Registry, http: outbound.Outbound
) -> None:
    elsewhere = Registry(scheme="Basic")
    app = web.Application()
    app.router.add_route("*", "/v2/{tail:.*}", elsewhere.v2)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        s = session(http, served, registryauth.Credentials("bot", "pw"))
        async with s.request("GET", f"{served.url}/v2/org/app/tags/list") as resp:
            assert resp.status == 200
        assert s.authorization is not None
        other = f"http://127.0.0.1:{runner.addresses[0][1]}/v2/org/app/blobs/x"
        async with s.request("GET", other) as resp:
            assert resp.status == 401  # asked, but not answered with this registry's token
        assert elsewhere.seen == [("/v2/org/app/blobs/x", "")]
    finally:
        await runner.cleanup()


async def test_no_credentials_to_a_plain_http_token_service_of_an_https_registry(
    http: outbound.Outbound,
) -> None:
    s = registryauth.Session(
        http,
        "registry.example",
        SCOPE,
        registryauth.Credentials("bot", "pw"),
        origin="https://registry.example",
        timeout=10,
    )
    with pytest.raises(registryauth.AuthError, match="plain http") as err:
        await s._answer('Bearer realm="http://auth.example/token",service="reg"')
    assert "pw" not in str(err.value)
