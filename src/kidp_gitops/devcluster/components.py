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
            *authentication,
            f"--audit-policy-file={state_dir / AUDIT_POLICY_FILE}",
            f"--audit-log-path={state_dir / 'logs' / 'audit.log'}",
            f"--audit-log-maxsize={AUDIT_LOG_MAX_MB}",
            "--audit-log-maxbackup=1",
            # Written as the request is answered, not batched: a test reads it after.
            "--audit-log-mode=blocking",
        ],
        "kube-controller-manager": [
            *delegated,
            f"--secure-port={p['kube-controller-manager']}",
            f"--cert-dir={state_dir / 'kcm-certs'}",
            f"--service-account-private-key-file={certs.sa_key}",
            f"--root-ca-file={certs.ca_cert}",
            "--use-service-account-credentials=false",
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


def environment(component: str) -> dict[str, str]:
    """What a component runs with over our own environment."""
    return {}
