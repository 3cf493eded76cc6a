"""The image controllers: ImageRepository scans a registry for tags, ImagePolicy picks
the latest, ImageUpdateAutomation writes it into Git (setters) and pushes a commit.

    controller   the wiring the engine calls (`image_controllers`)
    registry     the Docker Registry HTTP API v2 tag listing, with basic and token auth
    policy       picking the latest tag (semver, alphabetical, numerical; filterTags)
    setters      `# {"$imagepolicy": ...}` markers in YAML, edited in place
    message      the commit message template
    (the clone, commit and push are `vcs.worktree`'s)
"""

from kidp_gitops.image.controller import image_controllers

__all__ = ["image_controllers"]
