"""Who may do what: one ServiceAccount per controller, each given only what it needs.

As Flux: the appliers (kustomize-controller, helm-controller) are cluster-admin, through
the `cluster-reconciler-<namespace>` binding, because they apply whatever Git says and
then narrow themselves by impersonating a tenant's ServiceAccount. The others are not:
source-controller and notification-controller read Secrets and write their own kinds and
Events, and can neither write workloads nor grant RBAC. Flux gives all of its
controllers every Flux kind (`crd-controller`); here each writes its own kinds and reads
the others it follows. `kidp-controller`, the one process of `--single-process`, hosts
the appliers and is bound as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from kidp_gitops.api import components
from kidp_gitops.api.components import Component
from kidp_gitops.kube.client import JSON

RBAC = "rbac.authorization.k8s.io/v1"
READ = ["get", "list", "watch"]
ALL = ["*"]
SOURCE = "source.toolkit.fluxcd.io"
SOURCE_EXTENSIONS = "source.extensions.fluxcd.io"
KUSTOMIZE = "kustomize.toolkit.fluxcd.io"
HELM = "helm.toolkit.fluxcd.io"
NOTIFICATION = "notification.toolkit.fluxcd.io"
IMAGE = "image.toolkit.fluxcd.io"
APPLIERS = (components.KUSTOMIZE, components.HELM)
"""Cluster-admin, as in Flux: they apply anything, impersonate tenants, and create
service-account tokens (`serviceaccounts/token`) for the remote clusters of
`kubeConfig.configMapRef` (runtime/workloadidentity.py); no other controller may."""


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> JSON:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


_EVENTS = [
    # Every controller records Events on the objects it reconciles.
    _rule([""], ["events"], ["create", "patch"]),
    _rule(["events.k8s.io"], ["events"], ["create", "patch"]),
]
_RULES: dict[Component, list[JSON]] = {
    components.SOURCE: [
        # The sources, and the ArtifactGenerators (Flux's source-watcher) that compose
        # their artifacts into ExternalArtifacts: the same process unless source-watcher
        # is installed apart.
        _rule([SOURCE, SOURCE_EXTENSIONS], ["*"], ALL),
        # Credentials of repositories and registries; a ServiceAccount's image pull secrets.
        _rule([""], ["secrets", "configmaps", "serviceaccounts"], READ),
    ],
    components.SOURCE_WATCHER: [
        # Flux 2.7's source-watcher, installed apart: its ArtifactGenerators, the sources
        # it reads, and the ExternalArtifacts it writes (the sources' group).
        _rule([SOURCE_EXTENSIONS], ["*"], ALL),
        _rule(
            [SOURCE],
            ["externalartifacts", "externalartifacts/status", "externalartifacts/finalizers"],
            ALL,
        ),
        _rule([SOURCE], ["*"], READ),
    ],
    components.NOTIFICATION: [
        _rule([NOTIFICATION], ["*"], ALL),
        # Alerts follow the Events of Flux objects; Receivers ask the objects they name
        # to reconcile (the requestedAt annotation): read and patch, never create.
        _rule([""], ["events"], READ),
        _rule([SOURCE, KUSTOMIZE, HELM, IMAGE], ["*"], [*READ, "patch"]),
        _rule([""], ["secrets"], READ),
    ],
    components.IMAGE_REFLECTOR: [
        _rule([IMAGE], ["imagerepositories", "imagerepositories/status"], ALL),
        _rule([IMAGE], ["imagerepositories/finalizers"], ALL),
        _rule([IMAGE], ["imagepolicies", "imagepolicies/status", "imagepolicies/finalizers"], ALL),
        # Registry credentials, from Secrets or a ServiceAccount's image pull secrets.
        _rule([""], ["secrets", "configmaps", "serviceaccounts"], READ),
    ],
    components.IMAGE_AUTOMATION: [
        _rule(
            [IMAGE],
            [
                "imageupdateautomations",
                "imageupdateautomations/status",
                "imageupdateautomations/finalizers",
            ],
            ALL,
        ),
        _rule([IMAGE], ["imagepolicies", "imagerepositories"], READ),
        _rule([SOURCE], ["gitrepositories"], READ),
        _rule([""], ["secrets", "configmaps"], READ),
    ],
}


def _meta(name: str, labels: dict[str, str], namespace: str | None = None) -> JSON:
    meta: JSON = {"name": name, "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _subject(name: str, namespace: str) -> JSON:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def objects(
    namespace: str,
    hosted: Iterable[Component],
    labels: dict[str, str],
    *,
    single_process: bool,
) -> list[JSON]:
    """ServiceAccounts, roles and bindings of the controllers `hosted`; with
    `single_process`, also `kidp-controller`'s (every controller in one process)."""
    hosted = tuple(hosted)
    accounts = [c.name for c in hosted] + (["kidp-controller"] if single_process else [])
    result: list[JSON] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(sa, labels, namespace)}
        for sa in accounts
    ]
    admins = [c.name for c in hosted if c in APPLIERS]
    if single_process:
        admins.append("kidp-controller")
    if admins:
        result.append(
            {
                "apiVersion": RBAC,
                "kind": "ClusterRoleBinding",
                # Flux's name for the binding that lets its appliers reconcile anything.
                "metadata": _meta(f"cluster-reconciler-{namespace}", labels),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [_subject(sa, namespace) for sa in admins],
            }
        )
    for component in hosted:
        rules = _RULES.get(component)
        if rules is None:
            continue  # an applier: cluster-admin above
        name = f"{component.name}-{namespace}"
        result += [
            {
                "apiVersion": RBAC,
                "kind": "ClusterRole",
                "metadata": _meta(name, labels),
                "rules": [*rules, *_EVENTS],
            },
            {
                "apiVersion": RBAC,
                "kind": "ClusterRoleBinding",
                "metadata": _meta(name, labels),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": name,
                },
                "subjects": [_subject(component.name, namespace)],
            },
        ]
    others = [sa for sa in accounts if sa not in admins]
    if others:
        # Leader election: the Leases of the install's namespace, nowhere else.
        result += [
            {
                "apiVersion": RBAC,
                "kind": "Role",
                "metadata": _meta("leader-election", labels, namespace),
                "rules": [_rule(["coordination.k8s.io"], ["leases"], ALL)],
            },
            {
                "apiVersion": RBAC,
                "kind": "RoleBinding",
                "metadata": _meta("leader-election", labels, namespace),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "leader-election",
                },
                "subjects": [_subject(sa, namespace) for sa in others],
            },
        ]
    return result
