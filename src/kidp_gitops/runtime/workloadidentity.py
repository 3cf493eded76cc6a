"""Tokens of this cluster's service accounts, for remote clusters that trust its issuer
(`spec.kubeConfig.configMapRef`, provider `generic`).

Where it fits: `runtime.remote` reads the ConfigMap (`api.kubeconfigmap`) and opens a
client to its `address` whose Authorization header comes from here, asked on every
request as Flux's round tripper asks: a token is created by the TokenRequest API of
the engine's own cluster (`serviceaccounts/token`, with the ConfigMap's audiences) and
kept until shortly before it expires, per (namespace, service account, audiences,
address), so a long health check or helm action never sends an expired one and an idle
remote costs no request. Which service account: the ConfigMap's `serviceAccountName`,
else the lockdown's default one (`--default-service-account`), both in the object's
namespace; else the engine's own (asked once of the API server: SelfSubjectReview), as
Flux's controllers use their own when nothing is named.

    tokens = Tokens(client)                      one per engine (the engine's own client)
    account = await tokens.account(namespace, named)            (namespace, name)
    header = await tokens.header(account, audiences, address)   "Bearer …"

Failures are `TokenFailed` (a `KubeError`, so a client that asks for its header mid
request reports it as it reports the API server's errors); the message names the
service account and the API server's answer, never a token. Every token is masked in
logs while it is held.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.errors import ApiError, KubeError
from kidp_gitops.runtime import redact

REFRESH_AT = 0.8
"""A token is replaced once this share of its lifetime has passed (Kubernetes' own
clients rotate projected tokens at 80%)."""
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"

Account = tuple[str, str]
"""(namespace, name) of a service account of this cluster."""


class TokenFailed(KubeError):
    """No token could be had for a service account."""


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float
    """Monotonic seconds after which a new token is asked for."""


class Tokens:
    def __init__(self, client: KubeClient, clock: Callable[[], float] = time.monotonic):
        self._client = client  # the engine's own: creates the tokens
        self._clock = clock
        self._held: dict[tuple[str, str, tuple[str, ...], str], _Token] = {}
        self._locks: dict[tuple[str, str, tuple[str, ...], str], asyncio.Lock] = {}
        self._own: Account | None = None

    async def account(self, namespace: str, named: str | None) -> Account:
        """The service account whose tokens an object of `namespace` sends."""
        if named:
            return namespace, named
        if self._own is None:
            self._own = await self._own_account()
        return self._own

    async def header(self, account: Account, audiences: tuple[str, ...], address: str) -> str:
        """The Authorization header for `address`: a held token, or a new one."""
        key = (account[0], account[1], audiences, address)
        held = self._held.get(key)
        if held is None or self._clock() >= held.refresh_at:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:  # one TokenRequest however many requests wait for it
                held = self._held.get(key)
                if held is None or self._clock() >= held.refresh_at:
                    held = await self._request(key, account, audiences)
        return f"Bearer {held.value}"

    def forget(self, account: Account, audiences: tuple[str, ...], address: str) -> None:
        """Drop the token of a remote nobody uses any more."""
        key = (account[0], account[1], audiences, address)
        self._held.pop(key, None)
        self._locks.pop(key, None)
        redact.REDACTOR.forget(_owner(key))

    async def _request(
        self,
        key: tuple[str, str, tuple[str, ...], str],
        account: Account,
        audiences: tuple[str, ...],
    ) -> _Token:
        namespace, name = account
        path = (
            f"/api/v1/namespaces/{quote(namespace, safe='')}"
            f"/serviceaccounts/{quote(name, safe='')}/token"
        )
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": list(audiences)},
        }
        asked = self._clock()
        try:
            answer = await self._client.create(path, body)
        except ApiError as err:
            raise TokenFailed(
                f"no token for service account '{namespace}/{name}' of this cluster "
                f"({err.status} {err.reason}: {err.message})"
            ) from err
        status = answer.get("status") or {}
        value, expires = status.get("token"), status.get("expirationTimestamp")
        if not isinstance(value, str) or not value or not isinstance(expires, str):
            raise TokenFailed(f"the TokenRequest of '{namespace}/{name}' returned no token")
        lifetime = datetime.fromisoformat(expires).timestamp() - time.time()
        granted = (answer.get("spec") or {}).get("expirationSeconds")
        if isinstance(granted, int) and not 0 < lifetime <= granted:
            # Our clock and the API server's disagree: its grant is the better measure
            # (a lifetime read as negative would ask for a token on every request).
            lifetime = float(granted)
        await self._refuse_if_local(value, namespace, name, audiences)
        token = _Token(value, asked + max(lifetime, 0.0) * REFRESH_AT)
        redact.REDACTOR.forget(_owner(key))
        redact.REDACTOR.remember(_owner(key), [value])
        self._held[key] = token
        return token

    async def _refuse_if_local(
        self, token: str, namespace: str, name: str, audiences: tuple[str, ...]
    ) -> None:
        """Refuse a token this cluster's own API server would accept. The audiences are
        the ConfigMap writer's choice, and so is the address the token is sent to: with
        this cluster's audience it would be a credential here, handed to whoever runs
        that address. Asked of the API server itself (a TokenReview without audiences
        means its own), so no list of its audiences is kept here."""
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        try:
            answer = await self._client.create(
                "/apis/authentication.k8s.io/v1/tokenreviews", review
            )
        except ApiError as err:
            raise TokenFailed(
                f"the audiences of service account '{namespace}/{name}' could not be "
                f"checked ({err.status} {err.reason})"
            ) from err
        if (answer.get("status") or {}).get("authenticated") is True:
            raise TokenFailed(
                f"the audiences {', '.join(audiences)} are accepted by this cluster's API "
                f"server: a token of '{namespace}/{name}' for them would be a credential "
                "here, so none is sent to a remote cluster"
            )

    async def _own_account(self) -> Account:
        """The service account the engine runs as, from the API server's own answer."""
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            answer = await self._client.create(
                "/apis/authentication.k8s.io/v1/selfsubjectreviews", review
            )
        except ApiError as err:
            raise TokenFailed(f"the engine's own identity is unknown ({err.status})") from err
        user = str(((answer.get("status") or {}).get("userInfo") or {}).get("username") or "")
        namespace, _, name = user.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        if not user.startswith(SERVICE_ACCOUNT_PREFIX) or not namespace or not name:
            raise TokenFailed(
                f"the engine runs as '{user}', not as a service account, so it has no token "
                "of its own to send: name one in the ConfigMap's serviceAccountName"
            )
        return namespace, name


def _owner(key: tuple[str, str, tuple[str, ...], str]) -> str:
    return f"token/{key[0]}/{key[1]}/{','.join(key[2])}/{key[3]}"
