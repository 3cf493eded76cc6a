"""The install manifests, built in code from the API types (one source of truth).

Flux's shape by default: one Deployment and ServiceAccount per controller, named as
Flux's (`source-controller`, `kustomize-controller`, …), each running our one image with
the controllers it hosts (`--controllers=…`), so Flux's kustomize patches — the
multi-tenancy lockdown aimed at `kustomize-controller`, resources, tolerations — fit
unchanged, and `flux check` / `flux logs` find them by Flux's labels. A container's
`args` are flags only: Flux's patches insert at `args/0` as well as append.
`single_process` keeps everything in one Deployment, `kidp-controller`, for small
clusters. Services and NetworkPolicies are Flux's: `source-controller` serves artifacts,
`webhook-receiver` the Receivers' webhooks.
"""

from __future__ import annotations

from collections.abc import Sequence

from kidp_gitops import __version__
from kidp_gitops.api import components, crds
from kidp_gitops.api.components import Component
from kidp_gitops.install import rbac
from kidp_gitops.kube.client import JSON

NAMESPACE = "flux-system"
ENGINE = "kidp-controller"
"""The one Deployment of `--single-process`."""
IMAGE = f"ghcr.io/kidp-gitops/kidp-gitops:v{__version__}"
COMMAND = ["kidp", "controller", "run"]
METRICS_PORT = 8080
ARTIFACT_PORT = 9090
RECEIVER_PORT = 9292
LABELS = {
    "app.kubernetes.io/part-of": "flux",
    "app.kubernetes.io/instance": NAMESPACE,
    "app.kubernetes.io/version": f"v{__version__}",
}
"""Flux's install labels: `flux check` and `flux logs` select on `part-of`."""


def _labels(namespace: str, **more: str) -> dict[str, str]:
    return {**LABELS, "app.kubernetes.io/instance": namespace, **more}


def _meta(name: str, namespace: str | None = None, **labels: str) -> JSON:
    meta: JSON = {"name": name, "labels": _labels(namespace or NAMESPACE, **labels)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def manifests(
    namespace: str = NAMESPACE,
    *,
    controllers: bool = True,
    image: str = IMAGE,
    hosted: Sequence[Component] = components.DEFAULT,
    single_process: bool = False,
) -> list[JSON]:
    """Everything to install, in apply order. Without `controllers`, the cluster side
    only (CRDs, namespace, ServiceAccounts and RBAC), for controllers that run elsewhere
    (`kidp up`). `hosted`: the components (Flux's `--components` and
    `--components-extra`)."""
    hosted = tuple(c for c in components.ALL if c in hosted)
    objects: list[JSON] = list(crds.all_crds())
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)})
    objects += rbac.objects(namespace, hosted, _labels(namespace), single_process=single_process)
    if not controllers:
        return objects
    if single_process:
        objects.append(deployment(namespace, ENGINE, hosted, image, _args(namespace, hosted)))
        pods = {c: ENGINE for c in hosted}
    else:
        for c in hosted:
            objects.append(deployment(namespace, c.name, (c,), image, _args(namespace, (c,))))
        pods = {c: c.name for c in hosted}
    objects += _services(namespace, pods)
    objects += _network_policies(namespace, pods)
    return objects


def _args(namespace: str, hosted: Sequence[Component]) -> list[str]:
    """The flags of a process hosting `hosted`: its controllers and their servers."""
    args = [
        f"--controllers={','.join(c.key for c in hosted)}",
        "--enable-leader-election",
        f"--metrics-addr=:{METRICS_PORT}",
        "--data-dir=/data",
        "--log-level=info",
    ]
    if components.SOURCE in hosted:
        # Consumers in other pods download artifacts from the URL in a source's status.
        artifact_host = f"source-controller.{namespace}.svc.cluster.local."
        args += [f"--artifact-addr=:{ARTIFACT_PORT}", f"--artifact-url=http://{artifact_host}"]
    if components.NOTIFICATION in hosted:
        args.append(f"--receiver-addr=:{RECEIVER_PORT}")
    return args


def deployment(
    namespace: str, name: str, hosted: Sequence[Component], image: str, args: list[str]
) -> JSON:
    """The Deployment `name` running `image` with the controllers `hosted` and `args`."""
    single = len(hosted) > 1
    ports: list[JSON] = [{"name": "http-prom", "containerPort": METRICS_PORT, "protocol": "TCP"}]
    if components.SOURCE in hosted:
        ports.append({"name": "http", "containerPort": ARTIFACT_PORT, "protocol": "TCP"})
    if components.NOTIFICATION in hosted:
        ports.append({"name": "http-webhook", "containerPort": RECEIVER_PORT, "protocol": "TCP"})
    container: JSON = {
        "name": "manager",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": COMMAND,
        "args": args,
        "env": [
            {
                "name": "RUNTIME_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            }
        ],
        "ports": ports,
        # /healthz and /readyz live beside /metrics (runtime/manager).
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http-prom"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http-prom"}},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi" if single else "64Mi"},
            "limits": {"cpu": "2000m" if single else "1000m", "memory": "1Gi"},
        },
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
    selector = {"app": name}
    pod_labels = _labels(namespace, **selector)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(
            name, namespace, **{"app.kubernetes.io/component": name, "control-plane": "controller"}
        ),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    "containers": [container],
                    "terminationGracePeriodSeconds": 60,
                    "volumes": [
                        {"name": "data", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def _service(namespace: str, name: str, pod: str, target: str) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, namespace, **{"control-plane": "controller"}),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": pod},
            "ports": [{"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"}],
        },
    }


def _services(namespace: str, pods: dict[Component, str]) -> list[JSON]:
    """Flux's Services, each to the pod that hosts the server behind it."""
    result: list[JSON] = []
    if components.SOURCE in pods:
        result.append(_service(namespace, "source-controller", pods[components.SOURCE], "http"))
    if components.NOTIFICATION in pods:
        pod = pods[components.NOTIFICATION]
        # Flux's controllers post their events to notification-controller; ours reach it
        # through the API server's Events instead, so this Service, kept for what names
        # it (patches, policies, Ingresses), leads to the receiver as webhook-receiver does.
        result.append(_service(namespace, "notification-controller", pod, "http-webhook"))
        result.append(_service(namespace, "webhook-receiver", pod, "http-webhook"))
    return result


def _network_policies(namespace: str, pods: dict[Component, str]) -> list[JSON]:
    """Flux's three: the namespace's pods talk among themselves and out; metrics may be
    scraped from any namespace; the receiver's pod takes webhooks from anywhere."""
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy"}
    result: list[JSON] = [
        {
            **policy,
            "metadata": _meta("allow-egress", namespace),
            "spec": {
                "podSelector": {},
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{}],
                "policyTypes": ["Ingress", "Egress"],
            },
        },
        {
            **policy,
            "metadata": _meta("allow-scraping", namespace),
            "spec": {
                "podSelector": {},
                "ingress": [
                    {
                        "from": [{"namespaceSelector": {}}],
                        "ports": [{"port": METRICS_PORT, "protocol": "TCP"}],
                    }
                ],
                "policyTypes": ["Ingress"],
            },
        },
    ]
    if components.NOTIFICATION in pods:
        result.append(
            {
                **policy,
                "metadata": _meta("allow-webhooks", namespace),
                "spec": {
                    "podSelector": {"matchLabels": {"app": pods[components.NOTIFICATION]}},
                    "ingress": [{"from": [{"namespaceSelector": {}}]}],
                    "policyTypes": ["Ingress"],
                },
            }
        )
    return result


def every_install(namespace: str = NAMESPACE) -> list[JSON]:
    """Every object some install into `namespace` makes (any components, split or in one
    process), each once: what `kidp uninstall` looks for."""
    seen: dict[tuple[str, str], JSON] = {}
    for single in (False, True):
        for obj in manifests(namespace, hosted=components.ALL, single_process=single):
            seen.setdefault((obj["kind"], obj["metadata"]["name"]), obj)
    return list(seen.values())
