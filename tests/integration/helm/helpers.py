"""HelmReleases for the Helm controller's tests, and waiting on them."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import yaml

from kidp_gitops.helm import binary, runner
from kidp_gitops.kube import KubeClient
from kidp_gitops.proc import run as proc
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import EXAMPLE, example_files, setup_source
from tests.integration.wait import until_object

HR = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases"
HC = "/apis/source.toolkit.fluxcd.io/v1/namespaces/{ns}/helmcharts"
DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"
NAME = "kidp-operators"  # the PRD's HelmRelease


def prd_release(namespace: str) -> dict[str, Any]:
    """The PRD's HelmRelease from the example repository, in the test's namespace."""
    hr = yaml.safe_load((EXAMPLE / "releases" / "operators.yaml").read_text())
    hr["metadata"]["namespace"] = namespace
    return dict(hr)


def condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return dict(c)
    return {}


async def wait_hr(
    kube: KubeClient,
    namespace: str,
    name: str,
    status: str = "True",
    reason: str | None = None,
    check: Callable[[dict[str, Any]], bool] | None = None,
    timeout: float = 120,
) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def matches(obj: dict[str, Any] | None) -> dict[str, Any] | None:
        seen[:] = [obj] if obj is not None else []
        if obj is None:
            return None
        c = condition(obj)
        current = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get(
            "generation"
        )
        ok = current and c.get("status") == status and reason in (None, c.get("reason"))
        return obj if ok and (check is None or check(obj)) else None

    try:
        what = f"HelmRelease {name} Ready={status} {reason or ''}"
        path = f"{HR.format(ns=namespace)}/{name}"
        return await until_object(kube, path, matches, timeout, what)
    except AssertionError as err:
        last = (seen[0].get("status") if seen else None) or {}
        raise AssertionError(f"{err}; status: {last}") from None


async def release_secrets(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = await kube.list(
        f"/api/v1/namespaces/{namespace}/secrets",
        params={"labelSelector": f"owner=helm,name={name}"},
    )
    return list(listed.get("items") or [])


async def pending_install(kube: KubeClient, namespace: str, name: str = NAME) -> bool:
    """Whether helm is in the middle of installing the release (its revision pending)."""
    secrets = await release_secrets(kube, namespace, name)
    return any(s["metadata"]["labels"].get("status") == "pending-install" for s in secrets)


async def release(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    *,
    files: dict[str, str] | None = None,
    hr: dict[str, Any] | None = None,
    ready: str | None = "InstallSucceeded",
    timeout: float = 120,
) -> dict[str, Any]:
    """The set-up of most Helm tests: the example repository (or `files`, its files as
    the test changed them) as the source `setup_source` makes, and the HelmRelease `hr`
    (the PRD's by default) on it. Returns the release once Ready=True with reason `ready`
    for its generation, or as created when `ready` is None (the test waits for what it
    expects itself)."""
    files = example_files(namespace) if files is None else files
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    created = await kube.create(HR.format(ns=namespace), hr or prd_release(namespace))
    if ready is None:
        return created
    name = created["metadata"]["name"]
    return await wait_hr(kube, namespace, name, "True", ready, timeout=timeout)


async def request(kube: KubeClient, namespace: str, name: str = NAME) -> str:
    """Ask for a reconcile now (reconcile.fluxcd.io/requestedAt); the value to wait for."""
    stamp = f"{time.time():.6f}"
    await kube.patch(
        f"{HR.format(ns=namespace)}/{name}",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )
    return stamp


def handled(stamp: str) -> Callable[[dict[str, Any]], bool]:
    """A `wait_hr` check: the controller handled the request `stamp`."""
    return lambda o: o["status"].get("lastHandledReconcileAt") == stamp


async def event_reasons(kube: KubeClient, namespace: str, name: str = NAME) -> list[str]:
    """The reasons of the events about `name`, oldest first."""
    events = await kube.list(
        f"/api/v1/namespaces/{namespace}/events",
        params={"fieldSelector": f"involvedObject.name={name}"},
    )
    return [e["reason"] for e in events["items"]]


HelmRuns = Callable[[str], list[list[str]]]


@pytest.fixture
def helm_runs() -> Iterator[HelmRuns]:
    """`helm_runs(namespace)`: every helm action the engine asks for from then on for
    releases in `namespace` (the engine serves every test's namespace: another test's
    uninstall is not ours), as helm command lines: those its helper is sent, and any
    helm process started through the one subprocess seam, until the test ends."""
    helm = str(binary.find())
    with contextlib.ExitStack() as stack:

        def watch(namespace: str) -> list[list[str]]:
            started: list[list[str]] = []

            def ours(args: list[str]) -> bool:
                return f"--namespace={namespace}" in args or _follows(
                    args, "--namespace", namespace
                )

            def record(argv: Sequence[str]) -> Sequence[str]:
                if argv[0] == helm and ours(list(argv[1:])):
                    started.append(list(argv[1:]))
                return argv

            def asked(argv: Sequence[str]) -> None:
                if ours(list(argv)):
                    started.append(list(argv))

            stack.enter_context(proc.substituted(record))
            stack.enter_context(runner.watching(asked))
            return started

        yield watch


def _follows(args: list[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in itertools.pairwise(args))
