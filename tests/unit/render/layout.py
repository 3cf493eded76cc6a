"""A repository laid out as the PRD recommends, written into a temporary directory, and
helpers to compare with the real kustomize."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

from kidp_gitops.goyaml import yamlio
from kidp_gitops.render import runner


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under root: file bytes, or a symlink's target."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = str(path.readlink())
        elif path.is_file():
            found[rel] = path.read_bytes()
        else:
            found[rel] = "<dir>"
    return found


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The real kustomize's output for a directory that has a kustomization."""
    argv = [*runner.command(), str(directory), "--load-restrictor", "LoadRestrictionsNone"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    objects: list[dict[str, Any]] = yamlio.load_manifests(done.stdout)
    return objects


def names(objects: list[dict[str, Any]]) -> list[str]:
    out = []
    for obj in objects:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        out.append(f"{obj['kind']}/{meta['name']}")
    return out


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        if obj["kind"] == kind and meta["name"] == name:
            return obj
    raise AssertionError(f"{kind}/{name} not in {names(objects)}")


CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: brokers.kidp.io
spec:
  group: kidp.io
  names: {kind: Broker, plural: brokers}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

OPERATOR = """
apiVersion: v1
kind: Namespace
metadata:
  name: kidp-system
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kidp-operator
  namespace: kidp-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kidp-operator
  namespace: kidp-system
  labels: {app: kidp-operator}
spec:
  replicas: 1
  selector:
    matchLabels: {app: kidp-operator}
  template:
    metadata:
      labels: {app: kidp-operator}
    spec:
      serviceAccountName: kidp-operator
      containers:
        - name: manager
          image: ghcr.io/company/kidp-operator:v1.0.0
          resources:
            limits: {cpu: 0.5, memory: 128Mi}
"""

BROKER = """
apiVersion: v1
kind: Service
metadata:
  name: broker
  namespace: kidp-system
spec:
  selector: {app: broker}
  ports: [{port: 5672}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: broker
  namespace: kidp-system
spec:
  serviceName: broker
  replicas: 1
  selector:
    matchLabels: {app: broker}
  template:
    metadata:
      labels: {app: broker}
    spec:
      containers:
        - name: rabbitmq
          image: rabbitmq:3.13
"""


def prd_repository(root: Path) -> Path:
    """The PRD's recommended layout, with real manifests in it."""
    write(root, "infrastructure/base/crds/brokers.yaml", CRD)
    write(root, "infrastructure/base/crds/kustomization.yaml", "resources: [brokers.yaml]\n")
    write(root, "infrastructure/base/operators/operator.yaml", OPERATOR)
    write(root, "infrastructure/base/operators/kustomization.yaml", "resources: [operator.yaml]\n")
    write(root, "infrastructure/base/brokers/broker.yaml", BROKER)
    write(root, "infrastructure/base/brokers/kustomization.yaml", "resources:\n- broker.yaml\n")
    write(
        root,
        "infrastructure/kustomization.yaml",
        """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources:
          - base/crds
          - base/operators
          - base/brokers
        """,
    )
    write(
        root,
        "infrastructure/overlays/production/kustomization.yaml",
        """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources:
          - ../../base/crds
          - ../../base/operators
          - ../../base/brokers
        patches:
          - path: replicas.yaml
        images:
          - name: ghcr.io/company/kidp-operator
            newTag: v1.2.3
        """,
    )
    write(
        root,
        "infrastructure/overlays/production/replicas.yaml",
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: kidp-operator
          namespace: kidp-system
        spec:
          replicas: 3
        """,
    )
    write(
        root,
        "infrastructure/overlays/staging/kustomization.yaml",
        """
        resources:
          - ../../base/operators
          - ../../base/brokers
        patches:
          - target: {kind: StatefulSet, name: broker}
            patch: |
              - op: replace
                path: /spec/replicas
                value: 2
        configMapGenerator:
          - name: environment
            namespace: kidp-system
            literals: [ENVIRONMENT=staging]
        generatorOptions:
          disableNameSuffixHash: true
        """,
    )
    write(
        root,
        "infrastructure/overlays/development/kustomization.yaml",
        """
        resources:
          - ../../base/operators
        namePrefix: dev-
        """,
    )
    write(
        root,
        "teams/team-backend/applications/api.yaml",
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: api, namespace: team-backend}
        spec:
          replicas: 2
          selector: {matchLabels: {app: api}}
          template:
            metadata: {labels: {app: api}}
            spec:
              containers: [{name: api, image: ghcr.io/company/api:1.4.0}]
        """,
    )
    write(
        root,
        "teams/team-backend/databases/postgres.yaml",
        """
        apiVersion: v1
        kind: Service
        metadata: {name: postgres, namespace: team-backend}
        spec:
          ports: [{port: 5432}]
        """,
    )
    write(
        root,
        "teams/team-backend/kustomization.yaml",
        "resources:\n- applications/api.yaml\n- databases/postgres.yaml\n",
    )
    write(
        root,
        "teams/team-frontend/applications/web.yaml",
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: team-frontend}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: ghcr.io/company/web:2.0.0}]
        """,
    )
    write(root, "teams/team-frontend/kustomization.yaml", "resources: [applications/web.yaml]\n")
    write(
        root,
        "policies/resource-quotas.yaml",
        """
        apiVersion: v1
        kind: ResourceQuota
        metadata: {name: team-backend, namespace: team-backend}
        spec:
          hard: {pods: "50"}
        ---
        apiVersion: v1
        kind: ResourceQuota
        metadata: {name: team-frontend, namespace: team-frontend}
        spec:
          hard: {pods: "20"}
        """,
    )
    write(
        root,
        "policies/network-policies.yaml",
        """
        # Deny all ingress by default.
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: default-deny, namespace: team-backend}
        spec:
          podSelector: {}
          policyTypes: [Ingress]
        """,
    )
    write(
        root,
        "policies/pod-security.yaml",
        """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: team-backend
          labels:
            pod-security.kubernetes.io/enforce: restricted
        """,
    )
    write(root, "charts/operators/Chart.yaml", "apiVersion: v2\nname: operators\nversion: 0.1.0\n")
    write(root, "charts/operators/values.yaml", "replicaCount: 3\nimage: {tag: v1.0.0}\n")
    return root


def bomb(levels: int = 9) -> str:
    """~500 bytes of nested YAML aliases: 9^levels strings once expanded."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: bomb", "extra:"]
    lines.append('  l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]')
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"
