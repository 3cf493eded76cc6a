"""Drawing an inventory tree."""

from __future__ import annotations

from kidp_gitops.cli import tree


def test_render_draws_guides() -> None:
    root = tree.node("Kustomization", "flux-system", "platform")
    child = tree.node("Kustomization", "flux-system", "apps")
    child["resources"] = [tree.node("Deployment", "apps", "web")]
    root["resources"] = [child, tree.node("Namespace", "", "apps")]
    assert tree.render(root) == [
        "Kustomization/flux-system/platform",
        "├── Kustomization/flux-system/apps",
        "│   └── Deployment/apps/web",
        "└── Namespace/apps",
    ]
