"""How the local control plane's components are started: each one's flags and
environment, and why each differs from the component's default.

`cluster.DevCluster` starts them with these; bench/controlplane measures what a change
here costs or saves (CPU per 1,000 requests and per idle minute).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kidp_gitops.devcluster import binaries, pki, trust

AUDIT_POLICY_FILE = "audit-policy.json"
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    # One event per request, once answered: it holds the answer's code.
    "omitStages": ["RequestReceived", "ResponseStarted", "Panic"],
    "rules": [
        # The chatter of leases, events and delegated authentication/authorization:
        # written or asked constantly, and never what a test asks about.
        {
            "level": "None",
            "resources": [
                {"group": "coordination.k8s.io", "resources": ["leases"]},
                {"group": "", "resources": ["events"]},
                {"group": "events.k8s.io", "resources": ["events"]},
                {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                {
                    "group": "authorization.k8s.io",
                    "resources": ["subjectaccessreviews", "selfsubjectaccessreviews"],
                },
            ],
        },
        # Writes, with who sent them (user, user agent) and no bodies: cheap, and
        # enough to ask "who wrote this object".
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete"]},
        {"level": "None"},
    ],
}
"""What the dev control plane audits: every write but of the chatter above, at
Metadata level (tests ask it which process wrote an object: tests/integration/audit.py)."""
AUDIT_LOG_MAX_MB = 200
"""The audit log is rotated past this size, one old file kept: a long-lived `kidp up`
cluster must not fill the disk."""

KCM_FOR_USERS = (
    "serviceaccount-token-controller",
    "statefulset-controller",
    "daemonset-controller",
    "cronjob-controller",
    "disruption-controller",
    "ttl-after-finished-controller",
)
"""What a user's repository on `kidp up` may hold and wait for (kstatus of each); no test
needs them."""

KCM_CONTROLLERS = (
    # Deployments roll out (their ReplicaSets and Pods: tests, `kidp up`, installs).
    "deployment-controller",
    "replicaset-controller",
    # Jobs complete (Helm test hooks, a Kustomization's Job, kstatus of Jobs).
    "job-controller",
    # A deleted namespace is swept and goes; owned objects follow their owner.
    "namespace-controller",
    "garbage-collector-controller",
    # Every namespace has its `default` ServiceAccount (pods are refused without it; `up`
    # waits for it) and its `kube-root-ca.crt` (what a kubelet mounts; tests list it).
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    # A new node carries the `not-ready` taint (the API server's TaintNodesByCondition
    # admission puts it on); this controller takes it off once kwok reports the node
    # Ready. Without it no pod is ever scheduled.
    "node-lifecycle-controller",
    # The `admin`/`edit`/`view` ClusterRoles are aggregated: tenants are bound to `admin`.
    "clusterrole-aggregation-controller",
    # A ResourceQuota gets its status (the example's quotas): without it, quota admission
    # refuses every create in the quota's namespace.
    "resourcequota-controller",
    *KCM_FOR_USERS,
)
"""The controllers kube-controller-manager runs: what the tests and `kidp up` rely on, of
the ~50 it runs by default. Left out, each for a reason: what needs a network, storage or
a cloud the local cluster has not (endpoints and endpoint slices: kwok's pods have no
network, and each of their changes rewrote the slices of every Service selecting them;
volumes, node IPAM, routes, load balancers, HPA without a metrics server), what fake
nodes do not need (taint eviction, TTL, pod GC: kwok reports and deletes its pods),
certificates and bootstrap tokens, and the alpha or housekeeping ones (storage version,
resource claims, service CIDRs, admission policy status)."""


def command_lines(
    bins: binaries.Binaries, state_dir: Path, server: str, ports: Mapping[str, int]
) -> dict[str, list[str]]:
    """Each component's flags, for a cluster in `state_dir` serving at `server`."""
    p = ports
    certs = pki.Pki(state_dir / "pki")
    kc = str(state_dir / "kubeconfig")
    etcd_peer = f"http://127.0.0.1:{p['etcd-peer']}"
    etcd_client = f"http://127.0.0.1:{p['etcd']}"
    trusted = state_dir / trust.FILE
    authentication = [f"--authentication-config={trusted}"] if trusted.exists() else []
    policy = state_dir / AUDIT_POLICY_FILE
    audit = (
        [
            f"--audit-policy-file={policy}",
            f"--audit-log-path={state_dir / 'logs' / 'audit.log'}",
            f"--audit-log-maxsize={AUDIT_LOG_MAX_MB}",
            "--audit-log-maxbackup=1",
            # Written as the request is answered, not batched: a test reads it after.
            "--audit-log-mode=blocking",
        ]
        if policy.exists()
        else []
    )
    delegated = [
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
    ]
    return {
        "etcd": [
            "--name=kidp-dev",
            f"--data-dir={state_dir / 'etcd'}",
            f"--listen-client-urls={etcd_client}",
            f"--advertise-client-urls={etcd_client}",
            f"--listen-peer-urls={etcd_peer}",
            f"--initial-advertise-peer-urls={etcd_peer}",
            f"--initial-cluster=kidp-dev={etcd_peer}",
            # A throwaway cluster: durability is not worth an fsync per write.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            f"--etcd-servers={etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={p['kube-apiserver']}",
            f"--cert-dir={state_dir / 'pki'}",
            f"--tls-cert-file={certs.serving_cert}",
            f"--tls-private-key-file={certs.serving_key}",
            f"--client-ca-file={certs.ca_cert}",
            "--authorization-mode=RBAC",
            # An https URL this API server serves, with its discovery and keys: what
            # another API server needs to trust its tokens (devcluster/trust.py).
            f"--service-account-issuer={server}",
            f"--service-account-key-file={certs.sa_pub}",
            f"--service-account-signing-key-file={certs.sa_key}",
            f"--service-cluster-ip-range={pki.SERVICE_CIDR}",
            # No real endpoints exist for a loopback address; the reconciler would only
            # log errors about it.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            # Priority and fairness queues and classifies every request so that one
            # tenant's flood cannot starve another's; a loopback cluster of tests and one
            # `kidp up` has no such tenants, and the bookkeeping costs every request CPU
            # (kwokctl turns it off for its fake clusters too, `--disable-qps-limits`).
            "--enable-priority-and-fairness=false",
            # Counting every resource's objects in etcd once a minute feeds only a metric
            # (and priority and fairness, off): idle work nobody reads.
            "--etcd-count-metric-poll-period=0",
            "--etcd-db-metric-poll-interval=0",
            *authentication,
            *audit,
        ],
        "kube-controller-manager": [
            *delegated,
            f"--secure-port={p['kube-controller-manager']}",
            f"--cert-dir={state_dir / 'kcm-certs'}",
            f"--service-account-private-key-file={certs.sa_key}",
            f"--root-ca-file={certs.ca_cert}",
            "--use-service-account-credentials=false",
            f"--controllers={','.join(KCM_CONTROLLERS)}",
        ],
        "kube-scheduler": [
            *delegated,
            f"--secure-port={p['kube-scheduler']}",
            f"--cert-dir={state_dir / 'scheduler-certs'}",
        ],
        "kwok": [
            f"--kubeconfig={kc}",
            f"--config={bins.kwok_stages}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{p['kwok']}",
            "--node-lease-duration-seconds=40",
        ],
    }


GO_ENVIRONMENT = {"GOGC": "200"}
"""Every component is a Go program, whose collector runs when the heap has grown by GOGC %
since the last collection (default 100). At 200 it runs half as often: the API server's
marking fell from 13-16 % of its CPU to 7 % under bench/controlplane's load, for 100-150
MiB more of its resident memory (~370 -> ~500 MiB there), on a cluster that holds little
and is thrown away. 400 held ~300 MiB more and saved nothing more measurable."""


def environment(component: str) -> dict[str, str]:
    """What a component runs with over our own environment."""
    return dict(GO_ENVIRONMENT)
