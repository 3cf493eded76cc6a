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

High availability (`replicas` > 1) is what Flux's guides patch in: more replicas of every
Deployment, one leading at a time (each already runs with `--enable-leader-election`),
spread over nodes, and a PodDisruptionBudget keeping one available — except where a
standby is not ready by design (see `_budget`).
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
# The name `make image` gives the image it builds (hack/image/build.py); nothing publishes
# it yet: `kidp install --image` names where it was pushed.
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
    shards: int = 0,
    replicas: int = 1,
) -> list[JSON]:
    """Everything to install, in apply order. Without `controllers`, the cluster side
    only (CRDs, namespace, ServiceAccounts and RBAC), for controllers that run elsewhere
    (`kidp up`). `hosted`: the components (Flux's `--components` and
    `--components-extra`). `shards`: so many more instances of each sharded controller,
    as Flux's sharding guide sets them up (see `_shards`). `replicas`: of every controller
    Deployment (shards too), with a disruption budget each from 2 on."""
    hosted = tuple(c for c in components.ALL if c in hosted)
    objects: list[JSON] = list(crds.all_crds())
    objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)})
    objects += rbac.objects(namespace, hosted, _labels(namespace), single_process=single_process)
    if not controllers:
        return objects
    sharded = tuple(c for c in hosted if c in SHARDED) if shards else ()
    if single_process:
        process = _process(hosted, hosted)
        args = _args(namespace, process)
        if sharded:
            args.append(f"--watch-label-selector=!{SHARD_KEY}")
        objects.append(deployment(namespace, ENGINE, process, image, args, replicas=replicas))
        pods = {c: ENGINE for c in hosted}
    else:
        pods = {}
        for c in hosted:
            process = _process((c,), hosted)
            args = _args(namespace, process)
            if c in sharded:
                args.append(f"--watch-label-selector=!{SHARD_KEY}")
            objects.append(deployment(namespace, c.name, process, image, args, replicas=replicas))
            pods[c] = c.name
    objects += _services(namespace, pods)
    objects += _shards(
        namespace,
        sharded,
        shards,
        image,
        hosted=hosted,
        single_process=single_process,
        replicas=replicas,
    )
    objects += _budgets(namespace, [o for o in objects if o["kind"] == "Deployment"])
    objects += _network_policies(namespace, pods)
    return objects


def _process(of: Sequence[Component], hosted: Sequence[Component]) -> tuple[Component, ...]:
    """What the process of the components `of` runs in an install of `hosted`: them, and
    beside the sources the generator when source-watcher is not installed apart."""
    extra = components.riders(tuple(hosted)) if components.SOURCE in of else ()
    return tuple(c for c in components.ALL if c in of or c in extra)


SERVES_ARTIFACTS = (components.SOURCE, components.SOURCE_WATCHER)
"""The components whose process keeps an artifact store and serves it."""


def _serving(hosted: Sequence[Component]) -> bool:
    return any(c in hosted for c in SERVES_ARTIFACTS)


SHARD_KEY = "sharding.fluxcd.io/key"
SHARDED = (components.SOURCE, components.KUSTOMIZE, components.HELM)
"""The controllers Flux's sharding guide shards: the sources and the appliers."""


def _shards(
    namespace: str,
    sharded: Sequence[Component],
    count: int,
    image: str,
    *,
    hosted: Sequence[Component],
    single_process: bool,
    replicas: int,
) -> list[JSON]:
    """Shard `k` of each controller: a Deployment `<controller>-shard<k>` (one process
    for them all with `single_process`) that reconciles only the objects labelled
    `sharding.fluxcd.io/key: shard<k>`, while the main instances take the unlabelled
    ones; a source shard serves its artifacts behind a Service of its own name."""
    result: list[JSON] = []
    for k in range(1, count + 1):
        shard = f"shard{k}"
        groups = [tuple(sharded)] if single_process else [(c,) for c in sharded]
        for of in groups:
            group = _process(of, hosted)
            name = f"{ENGINE if single_process else group[0].name}-{shard}"
            args = _args(namespace, group, artifact_service=f"source-controller-{shard}")
            args.append(f"--watch-label-selector={SHARD_KEY}={shard}")
            account = ENGINE if single_process else group[0].name
            result.append(
                deployment(namespace, name, group, image, args, account=account, replicas=replicas)
            )
            if components.SOURCE in group:
                result.append(_service(namespace, f"source-controller-{shard}", name, "http"))
    return result


def _args(
    namespace: str, hosted: Sequence[Component], *, artifact_service: str | None = None
) -> list[str]:
    """The flags of a process hosting `hosted`: its controllers and their servers (its
    artifacts behind the Service `artifact_service`, by default Flux's of what it runs:
    `source-controller`, or `source-watcher` alone)."""
    args = [
        f"--controllers={','.join(c.key for c in hosted)}",
        "--enable-leader-election",
        f"--metrics-addr=:{METRICS_PORT}",
        "--data-dir=/data",
        "--log-level=info",
    ]
    if _serving(hosted):
        # Consumers in other pods download artifacts from the URL in a source's status.
        if artifact_service is None:
            sources = components.SOURCE in hosted
            artifact_service = "source-controller" if sources else "source-watcher"
        artifact_host = f"{artifact_service}.{namespace}.svc.cluster.local."
        args += [f"--artifact-addr=:{ARTIFACT_PORT}", f"--artifact-url=http://{artifact_host}"]
    if components.NOTIFICATION in hosted:
        args.append(f"--receiver-addr=:{RECEIVER_PORT}")
    return args


def deployment(
    namespace: str,
    name: str,
    hosted: Sequence[Component],
    image: str,
    args: list[str],
    *,
    account: str | None = None,
    replicas: int = 1,
) -> JSON:
    """The Deployment `name` running `image` with the controllers `hosted` and `args`, as
    the ServiceAccount `account` (`name`'s own by default; a shard runs as its main
    instance), `replicas` times (one leads, the others stand by)."""
    several = len(hosted) > 1  # one process for many controllers gets more room
    ports: list[JSON] = [{"name": "http-prom", "containerPort": METRICS_PORT, "protocol": "TCP"}]
    if _serving(hosted):
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
        # /healthz and /readyz live beside /metrics (runtime/manager); a process that
        # serves artifacts is ready only while it leads (engine/run).
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http-prom"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http-prom"}},
        # The Helm helpers size their memory bounds from this limit (helm/bounds.memory:
        # 512 MiB for the engine, a third of the rest for each of three helpers).
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi" if several else "64Mi"},
            "limits": {"cpu": "2000m" if several else "1000m", "memory": "2Gi"},
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
    pod: JSON = {
        "serviceAccountName": account or name,
        "containers": [container],
        "terminationGracePeriodSeconds": 60,
        "volumes": [
            {"name": "data", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if replicas > 1:
        # Replicas on one node fall together: spread them where the scheduler can.
        pod["affinity"] = {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": selector},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        }
    spec: JSON = {"replicas": replicas, "selector": {"matchLabels": selector}}
    if _serving(hosted):
        # As Flux's source-controller: only the leader is ready (its store holds the
        # artifacts), so a rolling update's new pod would wait for a lease the old one
        # keeps; replace the pods instead.
        spec["strategy"] = {"type": "Recreate"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(
            name, namespace, **{"app.kubernetes.io/component": name, "control-plane": "controller"}
        ),
        "spec": {
            **spec,
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                    },
                },
                "spec": pod,
            },
        },
    }


def _serves_artifacts(deployment: JSON) -> bool:
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    return any(p["name"] == "http" for p in ports)


def _budgets(namespace: str, deployments: list[JSON]) -> list[JSON]:
    """A PodDisruptionBudget keeping one pod of each replicated Deployment available
    through drains and upgrades of nodes. Not for a Deployment that serves artifacts:
    its standbys are never ready (only the leader's store holds the artifacts the
    Service leads to), so a budget of one available would refuse every eviction of the
    leader and block a drain for good; evicted, the leader gives its lease up and a
    standby leads at once."""
    result: list[JSON] = []
    for d in deployments:
        if d["spec"]["replicas"] < 2 or _serves_artifacts(d):
            continue
        name = d["metadata"]["name"]
        result.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": _meta(name, namespace, **{"control-plane": "controller"}),
                "spec": {
                    "minAvailable": 1,
                    "selector": {"matchLabels": {"app": name}},
                    # A replica not ready (starting, crash-looping) may always go: it
                    # keeps nothing available.
                    "unhealthyPodEvictionPolicy": "AlwaysAllow",
                },
            }
        )
    return result


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
    for served in SERVES_ARTIFACTS:
        if served in pods:
            result.append(_service(namespace, served.name, pods[served], "http"))
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


def selector(namespace: str = NAMESPACE) -> str:
    """The label selector of every object an install into `namespace` labels as its own
    (shards and budgets of any count included)."""
    return f"app.kubernetes.io/part-of=flux,app.kubernetes.io/instance={namespace}"


def every_install(namespace: str = NAMESPACE) -> list[JSON]:
    """Every object some install into `namespace` makes (any components, split or in one
    process, with replicas), each once: what `kidp uninstall` looks for by name. Shards
    it finds by `selector`: their count is the install's."""
    seen: dict[tuple[str, str], JSON] = {}
    for single in (False, True):
        for obj in manifests(
            namespace, hosted=components.ALL, single_process=single, shards=0, replicas=2
        ):
            seen.setdefault((obj["kind"], obj["metadata"]["name"]), obj)
    return list(seen.values())
