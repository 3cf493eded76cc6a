"""Tokens for remote clusters that trust this cluster's issuer: one TokenRequest per
(service account, audiences, address) until 80% of its lifetime has passed, however
many requests ask at once; the engine's own service account when none is named; failures
said without a token. (The TokenRequest API itself, and a remote API server accepting
its tokens, are proven in tests/integration/remote/test_workload_identity.py.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.runtime import redact, workloadidentity

LIFETIME = 3600.0
ADDRESS = "https://remote:6443"


class Engine:
    """The engine's client, as far as TokenRequests and SelfSubjectReviews go."""

    def __init__(self, user: str = "system:serviceaccount:flux-system:kustomize-controller"):
        self.user = user
        self.asked: list[tuple[str, Any]] = []
        self.reviewed: list[str] = []
        self.refuse: ApiError | None = None
        self.skew = 0.0
        self.accepted: set[str] = set()
        """Tokens this cluster's API server accepts (those asked for its audience)."""
        self.local_audience = "https://this-cluster"
        """Seconds the API server's clock is behind ours."""

    async def create(self, path: str, body: Any) -> dict[str, Any]:
        if path.endswith("/tokenreviews"):
            self.reviewed.append(body["spec"]["token"])
            return {"status": {"authenticated": body["spec"]["token"] in self.accepted}}
        self.asked.append((path, body))
        await asyncio.sleep(0)  # another request may wait meanwhile
        if self.refuse is not None:
            raise self.refuse
        if path.endswith("/selfsubjectreviews"):
            return {"status": {"userInfo": {"username": self.user}}}

        expires = datetime.now(UTC) + timedelta(seconds=LIFETIME - self.skew)
        token = f"token-{len(self.asked)}-{'x' * 20}"
        if self.local_audience in body["spec"]["audiences"]:
            self.accepted.add(token)
        return {
            "spec": {"expirationSeconds": int(LIFETIME)},
            "status": {"token": token, "expirationTimestamp": expires.isoformat()},
        }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tokens(engine: Engine, clock: Clock) -> workloadidentity.Tokens:
    return workloadidentity.Tokens(cast(KubeClient, engine), clock)


async def test_a_token_is_kept_until_most_of_its_lifetime_has_passed() -> None:
    engine, clock = Engine(), Clock()
    found = tokens(engine, clock)
    account = ("apps", "deployer")
    first = await found.header(account, ("aud",), ADDRESS)
    assert first.startswith("Bearer token-1-")
    path, body = engine.asked[0]
    assert path == "/api/v1/namespaces/apps/serviceaccounts/deployer/token"
    assert body["spec"] == {"audiences": ["aud"]}

    clock.now += LIFETIME * 0.79
    assert await found.header(account, ("aud",), ADDRESS) == first
    assert len(engine.asked) == 1
    clock.now += LIFETIME * 0.02
    renewed = await found.header(account, ("aud",), ADDRESS)
    assert renewed != first
    assert len(engine.asked) == 2


async def test_one_token_per_account_audiences_and_address() -> None:
    engine, clock = Engine(), Clock()
    found = tokens(engine, clock)
    headers = {
        await found.header(("apps", "a"), ("aud",), ADDRESS),
        await found.header(("apps", "b"), ("aud",), ADDRESS),
        await found.header(("other", "a"), ("aud",), ADDRESS),
        await found.header(("apps", "a"), ("aud", "more"), ADDRESS),
        await found.header(("apps", "a"), ("aud",), "https://elsewhere:443"),
        await found.header(("apps", "a"), ("aud",), ADDRESS),
    }
    assert len(headers) == 5
    assert len(engine.asked) == 5


async def test_requests_that_ask_at_once_share_one_token_request() -> None:
    engine, clock = Engine(), Clock()
    found = tokens(engine, clock)
    headers = await asyncio.gather(
        *(found.header(("apps", "a"), ("aud",), ADDRESS) for _ in range(10))
    )
    assert len(set(headers)) == 1
    assert len(engine.asked) == 1


async def test_held_tokens_are_masked_and_forgotten_with_their_remote() -> None:
    engine, clock = Engine(), Clock()
    found = tokens(engine, clock)
    token = (await found.header(("apps", "a"), ("aud",), ADDRESS)).removeprefix("Bearer ")
    assert token not in redact.REDACTOR.everywhere(f"sent {token}")
    found.forget(("apps", "a"), ("aud",), ADDRESS)
    assert token in redact.REDACTOR.everywhere(f"sent {token}")
    await found.header(("apps", "a"), ("aud",), ADDRESS)
    assert len(engine.asked) == 2  # forgotten: asked for again


async def test_the_named_account_else_the_engines_own() -> None:
    engine, clock = Engine(), Clock()
    found = tokens(engine, clock)
    assert await found.account("apps", "deployer") == ("apps", "deployer")
    assert engine.asked == []
    assert await found.account("apps", None) == ("flux-system", "kustomize-controller")
    assert await found.account("other", None) == ("flux-system", "kustomize-controller")
    assert len(engine.asked) == 1  # asked once


async def test_an_engine_that_is_no_service_account_has_no_token_of_its_own() -> None:
    found = tokens(Engine(user="kidp-admin"), Clock())
    with pytest.raises(workloadidentity.TokenFailed, match="runs as 'kidp-admin', not as a"):
        await found.account("apps", None)


async def test_a_refused_token_request_is_said_with_the_api_servers_answer() -> None:
    engine = Engine()
    engine.refuse = ApiError(404, "NotFound", 'serviceaccounts "ghost" not found')
    found = tokens(engine, Clock())
    with pytest.raises(workloadidentity.TokenFailed) as caught:
        await found.header(("apps", "ghost"), ("aud",), ADDRESS)
    assert str(caught.value) == (
        "no token for service account 'apps/ghost' of this cluster "
        '(404 NotFound: serviceaccounts "ghost" not found)'
    )


async def test_a_server_clock_far_behind_ours_does_not_make_a_token_per_request() -> None:
    engine, clock = Engine(), Clock()
    engine.skew = 2 * LIFETIME  # its tokens look expired when made
    found = tokens(engine, clock)
    first = await found.header(("apps", "a"), ("aud",), ADDRESS)
    clock.now += LIFETIME * 0.5
    assert await found.header(("apps", "a"), ("aud",), ADDRESS) == first
    assert len(engine.asked) == 1  # held for the lifetime the server granted


async def test_a_token_this_cluster_would_accept_is_never_handed_out() -> None:
    """Audiences are the ConfigMap writer's choice: one this cluster's API server accepts
    would make the token a credential here, sent to an address the writer chose."""
    engine = Engine()
    found = tokens(engine, Clock())
    with pytest.raises(workloadidentity.TokenFailed, match="accepted by this cluster") as caught:
        await found.header(("apps", "a"), (engine.local_audience,), ADDRESS)
    assert "token-" not in str(caught.value)
    assert engine.reviewed  # asked of the API server, not guessed
    # Asked again next time (nothing held), and another audience is fine.
    with pytest.raises(workloadidentity.TokenFailed):
        await found.header(("apps", "a"), (engine.local_audience,), ADDRESS)
    assert (await found.header(("apps", "a"), ("https://remote",), ADDRESS)).startswith("Bearer ")


async def test_a_name_is_a_path_segment_not_a_path() -> None:
    engine = Engine()
    found = tokens(engine, Clock())
    await found.header(("apps", "../../kube-system/serviceaccounts/x"), ("aud",), ADDRESS)
    path, _ = engine.asked[0]
    assert path == (
        "/api/v1/namespaces/apps/serviceaccounts/..%2F..%2Fkube-system%2Fserviceaccounts%2Fx/token"
    )
