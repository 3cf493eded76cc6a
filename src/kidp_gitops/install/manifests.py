"""The install manifests, built in code from the API types (one source of truth).

Service account names follow Flux's (source-controller, kustomize-controller, …) so RBAC
that platform teams wrote for Flux — the PRD binds `kustomize-controller` — keeps
working; the engine itself runs as `kidp-controller`. The `source-controller` Service
serves artifacts at the address Flux consumers expect.
"""

from __future__ import annotations

from kidp_gitops import __version__
from kidp_gitops.api import crds
from kidp_gitops.kube.client import JSON

NAMESPACE = "flux-system"
ENGINE = "kidp-controller"
FLUX_SERVICE_ACCOUNTS = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
)
# The name `make image` gives the image it builds (hack/image/build.py); nothing publishes
# it yet: `kidp install --image` names where it was pushed.
IMAGE = f"ghcr.io/kidp-gitops/kidp-gitops:v{__version__}"
METRICS_PORT = 8080
ARTIFACT_PORT = 9090
RECEIVER_PORT = 9292
LABELS = {"app.kubernetes.io/part-of": "kidp-gitops", "app.kubernetes.io/instance": NAMESPACE}


def _meta(name: str, namespace: str | None = None, **labels: str) -> JSON:
    meta: JSON = {"name": name, "labels": {**LABELS, **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def manifests(
    namespace: str = NAMESPACE, *, controllers: bool = True, image: str = IMAGE
) -> list[JSON]:
    """Everything to install, in apply order. Without `controllers`, the cluster side
    only (CRDs, namespace, RBAC), for controllers that run elsewhere (`kidp up`)."""
    objects: list[JSON] = list(crds.all_crds())
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)})
    for sa in (ENGINE, *FLUX_SERVICE_ACCOUNTS):
        objects.append(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(sa, namespace)}
        )
    objects.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            # Flux's name for the binding that lets its appliers reconcile anything.
            "metadata": _meta(f"cluster-reconciler-{namespace}"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": sa, "namespace": namespace}
                for sa in (ENGINE, "kustomize-controller", "helm-controller")
            ],
        }
    )
    if controllers:
        objects += _deployment(namespace, image)
    return objects


def _deployment(namespace: str, image: str) -> list[JSON]:
    labels = {"app": ENGINE}
    artifact_host = f"source-controller.{namespace}.svc.cluster.local."
    container: JSON = {
        "name": "manager",
        "image": image,
        # Flags only, as Flux's Deployments hold them (their patches append to this
        # list): the image's entrypoint is `kidp controller run`.
        "args": [
            "--leader-elect",
            f"--metrics-addr=:{METRICS_PORT}",
            f"--artifact-addr=:{ARTIFACT_PORT}",
            f"--artifact-url=http://{artifact_host}",
            f"--receiver-addr=:{RECEIVER_PORT}",
            "--data-dir=/data",
        ],
        "env": [
            {
                "name": "RUNTIME_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            }
        ],
        "ports": [
            {"name": "http", "containerPort": ARTIFACT_PORT},
            {"name": "http-prom", "containerPort": METRICS_PORT},
            {"name": "http-webhook", "containerPort": RECEIVER_PORT},
        ],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http-prom"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http-prom"}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(ENGINE, namespace, **labels),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {
                        "labels": {**LABELS, **labels},
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(METRICS_PORT),
                        },
                    },
                    "spec": {
                        "serviceAccountName": ENGINE,
                        "containers": [container],
                        "terminationGracePeriodSeconds": 60,
                        "volumes": [
                            {"name": "data", "emptyDir": {}},
                            {"name": "tmp", "emptyDir": {}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("source-controller", namespace),
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        {
            # Flux's name for the Service that an Ingress exposes to Git hosts' webhooks.
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("webhook-receiver", namespace),
            "spec": {
                "selector": labels,
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http-webhook", "protocol": "TCP"}
                ],
            },
        },
    ]
