"""How a run changes the flags or environment devcluster starts the components with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kidp_gitops.devcluster import components
from kidp_gitops.devcluster.binaries import Binaries


@dataclass(frozen=True)
class Variant:
    """A change to the flags or the environment devcluster starts the components with.

    `args[component]`: each `--flag=value` (or `--flag`) replaces that flag or adds it;
    `!--prefix` removes every flag that starts with `--prefix`. `env[component]` (`*`:
    every component) is added to the component's environment. `audit_policy`: the API
    server's audit policy in place of devcluster's."""

    name: str
    args: Mapping[str, Sequence[str]] = field(default_factory=dict)
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    audit_policy: Mapping[str, Any] | None = None

    def command_line(self, component: str, args: list[str]) -> list[str]:
        out = list(args)
        for change in self.args.get(component, ()):
            if change.startswith("!"):
                out = [a for a in out if not a.startswith(change[1:])]
                continue
            key = change.split("=", 1)[0]
            out = [a for a in out if a.split("=", 1)[0] != key] + [change]
        return out

    def environment(self, component: str) -> dict[str, str]:
        return {**self.env.get("*", {}), **self.env.get(component, {})}


# What the tests alone use: devcluster's less those kept for a user's own repository.
KCM_TESTS = tuple(c for c in components.KCM_CONTROLLERS if c not in components.KCM_FOR_USERS)
# The writes no test reads from the audit log (tests/integration/audit.py readers look
# at the objects kidp's processes write): the control plane's own bookkeeping of pods,
# ReplicaSets, endpoints, nodes and namespaces, left out before the rule that records
# every write.
NARROW_AUDIT = {
    **components.AUDIT_POLICY,
    "rules": [
        {
            "level": "None",
            "resources": [
                {"group": "", "resources": ["pods", "pods/*", "endpoints", "nodes", "nodes/*"]},
                {"group": "", "resources": ["namespaces/finalize", "namespaces/status"]},
                {"group": "apps", "resources": ["replicasets", "replicasets/*"]},
                {"group": "apps", "resources": ["deployments/status", "controllerrevisions"]},
                {"group": "discovery.k8s.io", "resources": ["endpointslices"]},
            ],
        },
        *components.AUDIT_POLICY["rules"],
    ],
}
GO = "*"
APISERVER = "kube-apiserver"
KCM = "kube-controller-manager"

VARIANTS = {
    v.name: v
    for v in (
        # As devcluster starts the components.
        Variant("baseline"),
        # The components' own defaults where devcluster tunes them for cost: every
        # on-by-default controller, priority and fairness, the count polls, GOGC 100
        # (devcluster before bench/controlplane's first measurements).
        Variant(
            "defaults",
            {
                APISERVER: [
                    "!--enable-priority-and-fairness",
                    "!--etcd-count-metric-poll-period",
                    "!--etcd-db-metric-poll-interval",
                ],
                KCM: ["!--controllers"],
            },
            {GO: {"GOGC": "100"}},
        ),
        # One change each (after `defaults+`, the change alone):
        Variant("no-audit", {APISERVER: ["!--audit-"]}),
        Variant("audit-narrow", audit_policy=NARROW_AUDIT),
        Variant("no-apf", {APISERVER: ["--enable-priority-and-fairness=false"]}),
        Variant(
            "no-count-poll",
            {
                APISERVER: [
                    "--etcd-count-metric-poll-period=0",
                    "--etcd-db-metric-poll-interval=0",
                ]
            },
        ),
        Variant(
            "kcm-controllers", {KCM: [f"--controllers={','.join(components.KCM_CONTROLLERS)}"]}
        ),
        Variant("kcm-tests", {KCM: [f"--controllers={','.join(KCM_TESTS)}"]}),
        # The watch cache's self-check: every 5 minutes, each resource listed from etcd
        # and hashed against the cache.
        Variant("no-cache-check", {APISERVER: ["--feature-gates=DetectCacheInconsistency=false"]}),
        # The controller-manager's client limit (20 requests a second, bursts of 30):
        # no CPU saved, but a namespace's sweep (two requests per resource) queues
        # ahead of a rollout's pod creations.
        Variant("kcm-qps", {KCM: ["--kube-api-qps=200", "--kube-api-burst=400"]}),
        Variant("no-watch-cache", {APISERVER: ["--watch-cache=false"]}),
        Variant("etcd-snapshot", {"etcd": ["--snapshot-count=100000"]}),
        # etcd commits its backend every 100 ms by default; without fsync a commit is
        # still a rewrite of every page touched since the last.
        Variant("etcd-batch", {"etcd": ["--backend-batch-interval=1s"]}),
        Variant("gogc200", env={GO: {"GOGC": "200"}}),
        Variant("gogc400", env={GO: {"GOGC": "400"}}),
        Variant(
            "gomaxprocs1",
            env={c: {"GOMAXPROCS": "1"} for c in ("kube-scheduler", "kwok", "etcd")},
        ),
    )
}


def named(spec: str) -> Variant:
    """A variant by name, or several joined by `+` (the changes of each, in order:
    `defaults+no-apf` is the defaults with priority and fairness off)."""
    parts = [VARIANTS[name] for name in spec.split("+")]
    args: dict[str, list[str]] = {}
    env: dict[str, dict[str, str]] = {}
    policies = [p.audit_policy for p in parts if p.audit_policy is not None]
    for part in parts:
        for component, flags in part.args.items():
            args.setdefault(component, []).extend(flags)
        for component, values in part.env.items():
            env.setdefault(component, {}).update(values)
    return Variant(spec, args, env, policies[-1] if policies else None)


@contextlib.contextmanager
def applied(variant: Variant) -> Iterator[None]:
    """devcluster starts the components as `variant` says, for the block."""
    real_lines = components.command_lines
    real_env = components.environment
    real_policy = components.AUDIT_POLICY

    def lines(
        bins: Binaries, state_dir: Path, server: str, ports: Mapping[str, int]
    ) -> dict[str, list[str]]:
        real = real_lines(bins, state_dir, server, ports)
        return {n: variant.command_line(n, a) for n, a in real.items()}

    def env(component: str) -> dict[str, str]:
        return {**real_env(component), **variant.environment(component)}

    components.command_lines = lines
    components.environment = env
    if variant.audit_policy is not None:
        components.AUDIT_POLICY = dict(variant.audit_policy)
    try:
        yield
    finally:
        components.command_lines = real_lines
        components.environment = real_env
        components.AUDIT_POLICY = real_policy
