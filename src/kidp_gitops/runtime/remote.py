"""Where an object acts: this cluster, or a remote one named by `spec.kubeConfig`.

Where it fits: a Kustomization or HelmRelease applies, prunes, checks health, watches
for drift and runs helm against its `Target` — the engine's cluster as its service
account, or, with `spec.kubeConfig.secretRef`, the API server of the kubeconfig in that
Secret (key `secretRef.key`, else `value`, else `value.yaml`, as Flux reads it), as the
same service account there (`serviceAccountName`, else the lockdown's default one, in
a namespace named as the object's: Flux's rule). The Secret is read with the engine's
own client, on every reconcile, so a rotated token is used at once.

With `spec.kubeConfig.configMapRef` (workload identity, provider `generic`), the API
server at the ConfigMap's `address`, trusting its `ca.crt`, with a token of this
cluster's service account (`runtime.workloadidentity`: TokenRequest, the ConfigMap's
audiences, renewed before it expires) as the credential: the remote trusts this
cluster's issuer and maps the token to a user of its own; impersonation on top is as
with a Secret. The ConfigMap is read on every reconcile too; providers of a cloud
(aws, azure, gcp) are refused, Stalled (`api.kubeconfigmap`).

One `Remote` per kubeconfig content (for a ConfigMap: per address, CA, service account
and audiences): its client, REST mapper and informer cache (the drift informers of what
was applied there) are shared by every object whose Secret holds the same bytes, and
closed — informers stopped, connections closed — when the last of them lets go
(`release`: deleted, pointed elsewhere, or its Secret or ConfigMap changed).

A remote that cannot be reached is said in the status (`RemoteClusterUnreachable`, the
server's URL and the transport's error, never a credential) before anything is applied
or pruned, so the last state stays as it was on both clusters. A kubeconfig that would
run a program or read a file of the engine's disk is refused (`kube.kubeconfig`).

    remotes = Remotes(client)                          one per engine (Context.remotes)
    target = await remotes.target(owner, namespace, spec.kube_config, account, lockdown)
    remotes.release(owner)                             the object no longer acts there
    await remotes.close()
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kidp_gitops.api import kubeconfigmap, meta
from kidp_gitops.api.refused import UNSUPPORTED_FIELD
from kidp_gitops.kube import kubeconfig
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kube.config import ClusterConfig, InlineTLS, TLSFiles
from kidp_gitops.kube.errors import ApiError, ConfigError, ConnectionFailed
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.runtime import credentials, redact, secrets, workloadidentity
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.reconcile import ReconcileError, StalledError
from kidp_gitops.runtime.tenancy import Lockdown

log = logging.getLogger(__name__)

REMOTE_UNREACHABLE = "RemoteClusterUnreachable"
INVALID_KUBECONFIG = "InvalidKubeConfig"
KEYS = ("value", "value.yaml")
"""The keys read when `secretRef.key` names none, in order (Flux's)."""
LOCAL = "local"
MAX_RESPONSE = 16 << 20
"""The largest response read from a remote API server: its address is a tenant's word."""


class Unreachable(ReconcileError):
    """The remote API server did not answer (or refused the kubeconfig's credentials)."""

    def __init__(self, message: str) -> None:
        super().__init__(REMOTE_UNREACHABLE, message)


class InvalidKubeConfig(ReconcileError):
    """The kubeConfig Secret or ConfigMap is missing, lacks a key, or holds a refused
    kubeconfig; or no token could be had for the ConfigMap's service account."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_KUBECONFIG, message)


class UnsupportedProvider(StalledError):
    """The kubeConfig ConfigMap names a provider kidp does not implement (aws, azure,
    gcp): no retry until the ConfigMap or the object changes (both are watched)."""

    def __init__(self, message: str) -> None:
        super().__init__(UNSUPPORTED_FIELD, message)


@dataclass
class Remote:
    """One remote API server, as one kubeconfig's user."""

    digest: str
    server: str
    client: KubeClient
    mapper: RestMapper
    cache: InformerCache
    """Informers on the remote (drift); stopped when the remote closes."""
    owners: set[str] = field(default_factory=set)
    _on_close: list[Callable[[], None]] = field(default_factory=list)

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the remote closes (who keeps something per remote)."""
        self._on_close.append(callback)

    async def close(self) -> None:
        for callback in self._on_close:
            callback()
        await self.cache.stop()
        await self.client.close()
        # Its credentials are no longer ours to mask: a Secret edited again and again
        # would otherwise grow the set every log line is scanned against.
        redact.REDACTOR.forget(f"kubeconfig/{self.digest}")


@dataclass(frozen=True)
class Target:
    """The cluster an object acts on, and as whom."""

    client: KubeClient
    """As the object's service account (or the engine/kubeconfig user when none)."""
    mapper: RestMapper
    config: ClusterConfig
    """For programs that need a kubeconfig of their own (helm)."""
    remote: Remote | None = None

    @property
    def key(self) -> str:
        """Which cluster and credentials: changes when the kubeconfig does."""
        return self.remote.digest if self.remote is not None else LOCAL

    def unreachable(self, err: Exception) -> Unreachable:
        server = self.remote.server if self.remote is not None else self.config.server
        return Unreachable(
            f"remote cluster {server} is unreachable ({err}); the last applied state is "
            "kept, nothing is applied or pruned until it answers"
        )


class Remotes:
    def __init__(self, client: KubeClient, mapper: RestMapper):
        self._client = client  # the engine's own: reads the kubeConfig Secrets
        self._mapper = mapper
        self._tokens = workloadidentity.Tokens(client)
        self._token_users: Counter[tuple[workloadidentity.Account, tuple[str, ...], str]] = (
            Counter()
        )
        self._by_digest: dict[str, Remote] = {}
        self._of_owner: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def local(self, client: KubeClient) -> Target:
        return Target(client, self._mapper, self._client.config)

    async def target(
        self,
        owner: str,
        namespace: str,
        ref: meta.KubeConfigReference | None,
        account: str | None,
        lockdown: Lockdown,
    ) -> Target:
        """Where `owner` (an object of `namespace`) acts, impersonating `account` (or
        the lockdown's default) there; the remote is checked to answer."""
        if ref is None:
            await self.release(owner)
            return self.local(lockdown.client(self._client, namespace, account))
        if ref.secret_ref is not None:
            data = await self._kubeconfig(namespace, ref.secret_ref)
            remote = await self._by_kubeconfig(owner, data)
        elif ref.config_map_ref is not None:
            remote = await self._by_identity(
                owner, namespace, ref.config_map_ref, account, lockdown
            )
        else:
            raise InvalidKubeConfig("spec.kubeConfig names neither secretRef nor configMapRef")
        target = Target(
            lockdown.client(remote.client, namespace, account),
            remote.mapper,
            remote.client.config,
            remote,
        )
        try:
            # Any user may read the version; an answer says the server is there and
            # takes the credentials. One cheap request per reconcile.
            await remote.client.get("/version")
        except ConnectionFailed as err:
            raise target.unreachable(err) from err
        except ApiError as err:
            raise Unreachable(
                f"remote cluster {remote.server} refused the kubeconfig's credentials "
                f"({err.status} {err.reason}); nothing is applied or pruned"
            ) from err
        return target

    async def release(self, owner: str) -> None:
        """`owner` acts on no remote any more: close what nobody else uses."""
        if owner not in self._of_owner:
            return  # the common case, every local reconcile: no lock to wait for
        async with self._lock:
            await self._let_go(owner)

    async def close(self) -> None:
        async with self._lock:
            for remote in list(self._by_digest.values()):
                await remote.close()
            self._by_digest.clear()
            self._of_owner.clear()

    def remotes(self) -> list[Remote]:
        return list(self._by_digest.values())

    async def _kubeconfig(self, namespace: str, ref: meta.SecretKeyReference) -> bytes:
        described = f"kubeConfig Secret '{namespace}/{ref.name}'"
        found = await secrets.read(self._client, namespace, ref.name)
        if found is None:
            raise InvalidKubeConfig(f"{described} not found")
        if ref.key:
            if ref.key not in found:
                raise InvalidKubeConfig(f"{described} has no key '{ref.key}'")
            return found[ref.key]
        for key in KEYS:
            if key in found:
                return found[key]
        raise InvalidKubeConfig(f"{described} has neither a 'value' nor a 'value.yaml' key")

    async def _by_kubeconfig(self, owner: str, data: bytes) -> Remote:
        """The remote of a kubeconfig's content."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return await self._remote(owner, digest, lambda: self._open(digest, data))

    async def _by_identity(
        self,
        owner: str,
        namespace: str,
        ref: meta.LocalObjectReference,
        acting: str | None,
        lockdown: Lockdown,
    ) -> Remote:
        """The remote of a workload identity ConfigMap, a token for it in hand (so a
        service account that is missing, or may not be asked for tokens, is said here
        rather than in the middle of an apply)."""
        where = f"{namespace}/{ref.name}"
        found = await secrets.read(self._client, namespace, ref.name, "ConfigMap")
        if found is None:
            raise InvalidKubeConfig(f"kubeConfig ConfigMap '{where}' not found")
        data = {key: value.decode(errors="replace") for key, value in found.items()}
        try:
            settings = kubeconfigmap.parse(where, data)
        except kubeconfigmap.Unsupported as err:
            raise UnsupportedProvider(f"spec.kubeConfig.configMapRef: {err}") from err
        except kubeconfigmap.Invalid as err:
            raise InvalidKubeConfig(str(err)) from err
        named = lockdown.kubeconfig_account(settings.service_account, acting)
        try:
            account = await self._tokens.account(namespace, named)
            await self._tokens.header(account, settings.audiences, settings.address)
        except workloadidentity.TokenFailed as err:
            raise InvalidKubeConfig(f"kubeConfig ConfigMap '{where}': {err}") from err
        identity = [settings.address, (settings.ca or b"").decode(), list(account)]
        raw = json.dumps([*identity, list(settings.audiences)]).encode()
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()

        async def opened() -> Remote:
            return self._open_identity(digest, settings, account, where)

        return await self._remote(owner, digest, opened)

    async def _remote(
        self, owner: str, digest: str, open_remote: Callable[[], Awaitable[Remote]]
    ) -> Remote:
        async with self._lock:
            if self._of_owner.get(owner) != digest:
                await self._let_go(owner)
            remote = self._by_digest.get(digest)
            if remote is None:
                remote = await open_remote()
                self._by_digest[digest] = remote
            remote.owners.add(owner)
            self._of_owner[owner] = digest
            return remote

    async def _open(self, digest: str, data: bytes) -> Remote:
        try:
            parsed = await asyncio.to_thread(kubeconfig.parse, data)
            config = await asyncio.to_thread(parsed.config)
        except ConfigError as err:
            raise InvalidKubeConfig(f"refused kubeConfig: {err}") from err
        # Logs never hold the remote's credentials, whatever a library writes.
        redact.REDACTOR.remember(f"kubeconfig/{digest}", parsed.secrets())
        # The same sender as the engine's own requests: a remote's audit log tells
        # replicas and shards apart as this cluster's does.
        client = KubeClient(config, max_body=MAX_RESPONSE, user_agent=self._client.user_agent)
        log.info("opened remote cluster %s", parsed.server)
        return Remote(digest, parsed.server, client, RestMapper(client), InformerCache(client))

    def _open_identity(
        self,
        digest: str,
        settings: kubeconfigmap.Settings,
        account: workloadidentity.Account,
        where: str,
    ) -> Remote:
        try:
            context = (
                credentials.tls_context(credentials.TLSData(ca=settings.ca), system_roots=False)
                if settings.ca
                else ssl.create_default_context()
            )
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
            raise InvalidKubeConfig(
                f"kubeConfig ConfigMap '{where}' has a '{kubeconfigmap.CA}' that is not usable"
            ) from err
        tokens, audiences, address = self._tokens, settings.audiences, settings.address

        async def header() -> str:
            # Asked on every request: a token that is due is renewed before it is sent.
            return await tokens.header(account, audiences, address)

        config = ClusterConfig(
            address, context, header, TLSFiles(), inline=InlineTLS(ca=settings.ca)
        )
        client = KubeClient(config, max_body=MAX_RESPONSE, user_agent=self._client.user_agent)
        log.info("opened remote cluster %s by workload identity", address)
        remote = Remote(digest, address, client, RestMapper(client), InformerCache(client))
        # Two remotes may share a token (the same account, audiences and address, another
        # ca.crt): the last one to close lets it go, never one the other still sends.
        key = (account, audiences, address)
        self._token_users[key] += 1

        def let_go() -> None:
            self._token_users[key] -= 1
            if self._token_users[key] <= 0:
                del self._token_users[key]
                tokens.forget(account, audiences, address)

        remote.on_close(let_go)
        return remote

    async def _let_go(self, owner: str) -> None:
        digest = self._of_owner.pop(owner, None)
        remote = self._by_digest.get(digest) if digest else None
        if remote is None:
            return
        remote.owners.discard(owner)
        if not remote.owners:
            del self._by_digest[remote.digest]
            log.info("closed remote cluster %s", remote.server)
            await remote.close()
