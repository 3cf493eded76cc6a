"""Drawing an inventory tree."""

from __future__ import annotations

from kidp_gitops.views import tree


def test_render_draws_guides() -> None:
    root = tree.leaf("Kustomization", "flux-system", "platform")
    child = tree.leaf("Kustomization", "flux-system", "apps")
    child["resources"] = [tree.leaf("Deployment", "apps", "web")]
    root["resources"] = [child, tree.leaf("Namespace", "", "apps")]
    assert tree.render(root) == [
        "Kustomization/flux-system/platform",
        "├── Kustomization/flux-system/apps",
        "│   └── Deployment/apps/web",
        "└── Namespace/apps",
    ]


def remote_ks() -> dict[str, object]:
    """A Kustomization with kubeConfig that applied a Kustomization `apps` (there)."""
    return {
        "metadata": {"namespace": "flux-system", "name": "fleet"},
        "spec": {"kubeConfig": {"secretRef": {"name": "remote"}}},
        "status": {
            "inventory": {
                "entries": [
                    {"id": "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization", "v": "v1"}
                ]
            }
        },
    }


async def test_a_remote_inventory_is_not_looked_up_here() -> None:
    """A same-named object of this cluster is not the remote one: not followed, and its
    health is said to be elsewhere rather than NotFound."""
    local_apps = {"metadata": {"namespace": "flux-system", "name": "apps"}, "status": {}}
    (item,) = tree.nodes(remote_ks(), lambda ref: local_apps)
    assert item["health"] == tree.REMOTE
    assert item["resources"] == []

    async def fetch(namespace: str, name: str) -> dict[str, object] | None:
        raise AssertionError("a remote inventory's Kustomization was fetched here")

    found = await tree.applied(remote_ks(), fetch, compact=False)
    assert found["resources"] == [tree.leaf("Kustomization", "flux-system", "apps")]
