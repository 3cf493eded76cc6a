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
