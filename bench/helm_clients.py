"""What one client set-up costs the Helm helper: memory per identity it keeps.

    python -m bench.helm_clients --n 64 --step 16

The shared helper keeps one client set-up per kubeconfig and impersonated identity
(hack/helm/server/clients.go: the REST configuration, a discovery cache and mapper, and
kubectl's validator, which reads the API server's OpenAPI documents of the groups it
validates), and a tenant adds set-ups by varying its kubeconfigs or service accounts.
This starts a fresh local control plane and the real helper (runner.Helper) and installs
one release of a small chart (a ConfigMap, a ServiceAccount, a Role and its binding, a
Service and a Deployment: five API groups) per identity, each with a kubeconfig of its
own, then reads the helper's memory: its resident set, and the live heap Go's collector
reported after its last collection (GODEBUG=gctrace=1). The slope over the identities is
one set-up's cost; clients.go caps the cache by it. Nothing asserted: a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bench import measure
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.helm import runner
from kidp_gitops.kube import KubeClient, load_config
from kidp_gitops.proc import run as proc

NAMESPACE = "clients"
TEMPLATES = {
    "objects.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata: {name: "{{ .Release.Name }}"}
data: {a: b}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: "{{ .Release.Name }}"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "{{ .Release.Name }}"}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "{{ .Release.Name }}"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "{{ .Release.Name }}"}
subjects: [{kind: ServiceAccount, name: "{{ .Release.Name }}"}]
---
apiVersion: v1
kind: Service
metadata: {name: "{{ .Release.Name }}"}
spec: {selector: {app: "{{ .Release.Name }}"}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: "{{ .Release.Name }}"}
spec:
  replicas: 0
  selector: {matchLabels: {app: "{{ .Release.Name }}"}}
  template:
    metadata: {labels: {app: "{{ .Release.Name }}"}}
    spec: {containers: [{name: app, image: registry.example/app:1}]}
""",
}
_GC = re.compile(rb"gc \d+ @[\d.]+s [^\n]*?(\d+)->(\d+)->(\d+) MB")


def _traced(argv: Sequence[str]) -> Sequence[str]:
    if argv[0].endswith("kidp-helm-server"):
        return ["env", "GODEBUG=gctrace=1", *argv]
    return argv


def _chart(root: Path) -> Path:
    chart = root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: clients\nversion: 1.0.0\n")
    for name, text in TEMPLATES.items():
        (chart / "templates" / name).write_text(text)
    return chart


def _identity(admin: dict[str, Any], i: int) -> dict[str, Any]:
    """The admin's kubeconfig under another cluster name: another key in the helper's
    cache (as a tenant's many remote kubeconfigs, or tokens, would be)."""
    doc = copy.deepcopy(admin)
    for entry in doc["clusters"]:
        entry["name"] = f"c{i}"
    for entry in doc["contexts"]:
        entry["context"]["cluster"] = f"c{i}"
    return doc


def _memory(helper: runner.Helper) -> dict[str, float]:
    running = helper._running
    assert running is not None
    found = _GC.findall(running.stderr)
    live = int(found[-1][2]) if found else -1
    return {"rss_mib": measure.memory_mib(running.process.pid)["VmRSS"], "live_heap_mb": live}


async def main(n: int, step: int) -> list[dict[str, float]]:
    root = Path(tempfile.mkdtemp(prefix="kidp-bench-clients-"))
    cluster = DevCluster(root / "devcluster")
    await cluster.up()
    rows: list[dict[str, float]] = []
    try:
        async with KubeClient(await load_config(cluster.kubeconfig)) as kube:
            await kube.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        admin = yaml.safe_load(cluster.kubeconfig.read_text())
        chart = _chart(root)
        helper = runner.Helper(root / "home")
        with proc.substituted(_traced):
            try:
                for i in range(n + 1):
                    argv = ["install", f"r{i}", str(chart), "--namespace", NAMESPACE]
                    await helper.run(argv, kubeconfig=_identity(admin, i), timeout=120)
                    if i % step == 0:
                        await asyncio.sleep(2)  # a collection or two past the install
                        row = {"identities": i + 1, **_memory(helper)}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
            finally:
                await helper.close()
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)
    first, last = rows[0], rows[-1]
    per = {
        key: (last[key] - first[key]) / (last["identities"] - first["identities"])
        for key in ("rss_mib", "live_heap_mb")
    }
    print(json.dumps({"per_identity": per}), flush=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--step", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.step))
