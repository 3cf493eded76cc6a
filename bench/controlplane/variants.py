"""How a run changes the flags or environment devcluster starts the components with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kidp_gitops.devcluster import components
from kidp_gitops.devcluster.binaries import Binaries


@dataclass(frozen=True)
class Variant:
    """A change to the flags or the environment devcluster starts the components with.

    `args[component]`: each `--flag=value` (or `--flag`) replaces that flag or adds it;
    `!--prefix` removes every flag that starts with `--prefix`. `env[component]` (`*`:
    every component) is added to the component's environment."""

    name: str
    args: Mapping[str, Sequence[str]] = field(default_factory=dict)
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

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


# What the kube-controller-manager must run for the tests and `kidp up` (read from them):
# Deployments roll out (deployment, replicaset), Helm test hooks and Jobs complete (job),
# namespaces are swept (namespace) and owned objects collected (garbage-collector), every
# namespace has its `default` ServiceAccount and `kube-root-ca.crt` (serviceaccount,
# root-ca-certificate-publisher), `admin`/`edit`/`view` are aggregated (clusterrole-
# aggregation: tenants are bound to `admin`), the example's ResourceQuotas get a status
# (resourcequota: without one, quota admission refuses every create in their namespace),
# and what a user's repository on `kidp up` may hold (statefulset, daemonset, cronjob,
# disruption, serviceaccount-token, ttl-after-finished).
KCM_CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "job-controller",
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "resourcequota-controller",
    "statefulset-controller",
    "daemonset-controller",
    "cronjob-controller",
    "disruption-controller",
    "ttl-after-finished-controller",
)
# What the tests alone use: the last five above are for a user's own repository.
KCM_TESTS = KCM_CONTROLLERS[:10]
GO = "*"

VARIANTS = {
    v.name: v
    for v in (
        Variant("baseline"),
        Variant("no-audit", {"kube-apiserver": ["!--audit-"]}),
        Variant("no-apf", {"kube-apiserver": ["--enable-priority-and-fairness=false"]}),
        Variant(
            "no-count-poll",
            {
                "kube-apiserver": [
                    "--etcd-count-metric-poll-period=0",
                    "--etcd-db-metric-poll-interval=0",
                ]
            },
        ),
        Variant(
            "kcm-controllers",
            {"kube-controller-manager": [f"--controllers={','.join(KCM_CONTROLLERS)}"]},
        ),
        Variant(
            "kcm-tests",
            {"kube-controller-manager": [f"--controllers={','.join(KCM_TESTS)}"]},
        ),
        Variant("no-watch-cache", {"kube-apiserver": ["--watch-cache=false"]}),
        Variant("etcd-snapshot", {"etcd": ["--snapshot-count=100000"]}),
        Variant("gogc200", env={GO: {"GOGC": "200"}}),
        Variant("gogc400", env={GO: {"GOGC": "400"}}),
        Variant(
            "gomaxprocs1",
            env={c: {"GOMAXPROCS": "1"} for c in ("kube-scheduler", "kwok", "etcd")},
        ),
    )
}


@contextlib.contextmanager
def applied(variant: Variant) -> Iterator[None]:
    """devcluster starts the components as `variant` says, for the block."""
    real_lines = components.command_lines
    real_env = components.environment

    def lines(
        bins: Binaries, state_dir: Path, server: str, ports: Mapping[str, int]
    ) -> dict[str, list[str]]:
        real = real_lines(bins, state_dir, server, ports)
        return {n: variant.command_line(n, a) for n, a in real.items()}

    def env(component: str) -> dict[str, str]:
        return {**real_env(component), **variant.environment(component)}

    components.command_lines = lines
    components.environment = env
    try:
        yield
    finally:
        components.command_lines = real_lines
        components.environment = real_env
