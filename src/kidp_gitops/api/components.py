"""Flux's controllers as deployable components: which of ours each one hosts.

Flux ships one Deployment per controller; `kidp install` does the same with one image,
each process started with the controllers it hosts (`kidp controller run
--controllers=source,...`). The names here are Flux's, so its `--components` lists, its
kustomize patches (aimed at `kustomize-controller`, …) and its labels fit our install.
Plain data: the engine reads it to know what a process runs, the installer to know
what to deploy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    key: str
    """The name `kidp controller run --controllers` takes."""
    name: str
    """Flux's name: the Deployment, ServiceAccount, `app` label and leader-election lease."""
    extra: bool = False
    """Installed only when asked for (Flux's `--components-extra`)."""


SOURCE = Component("source", "source-controller")
KUSTOMIZE = Component("kustomize", "kustomize-controller")
HELM = Component("helm", "helm-controller")
NOTIFICATION = Component("notification", "notification-controller")
IMAGE_REFLECTOR = Component("image-reflector", "image-reflector-controller", extra=True)
IMAGE_AUTOMATION = Component("image-automation", "image-automation-controller", extra=True)
SOURCE_WATCHER = Component("source-watcher", "source-watcher", extra=True)
"""The ArtifactGenerator controller, Flux 2.7's `source-watcher`: a Deployment of its own
when installed as one (`--components-extra=source-watcher`), else run by the process
of the sources (see `riders`)."""

ALL: tuple[Component, ...] = (
    SOURCE,
    KUSTOMIZE,
    HELM,
    NOTIFICATION,
    IMAGE_REFLECTOR,
    IMAGE_AUTOMATION,
    SOURCE_WATCHER,
)
BY_KEY = {c.key: c for c in ALL}
BY_NAME = {c.name: c for c in ALL}
DEFAULT = tuple(c for c in ALL if not c.extra)
"""Flux's default `--components`."""
EXTRA = tuple(c for c in ALL if c.extra)
"""What Flux's `--components-extra` may add."""


def riders(hosted: tuple[Component, ...]) -> tuple[Component, ...]:
    """What the process of the sources runs beside them in an install of `hosted`: the
    generator, unless source-watcher is installed apart (kidp serves ArtifactGenerators
    whichever components are installed; Flux only with source-watcher)."""
    return () if SOURCE_WATCHER in hosted else (SOURCE_WATCHER,)


def named(controllers: tuple[Component, ...]) -> tuple[Component, ...]:
    """The components a process of `controllers` is named after (its Deployment, lease
    and user agent): source-watcher riding with the sources takes their name."""
    if SOURCE in controllers:
        return tuple(c for c in controllers if c is not SOURCE_WATCHER)
    return controllers


def parse_keys(value: str) -> tuple[Component, ...]:
    """`source,kustomize` as components, in `ALL`'s order; ValueError names an unknown one."""
    keys = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        raise ValueError(f"unknown controller {', '.join(unknown)} (known: {', '.join(BY_KEY)})")
    if not keys:
        raise ValueError("no controller named")
    return tuple(c for c in ALL if c.key in keys)


def parse_names(value: str) -> tuple[Component, ...]:
    """Flux's component names (`source-controller,helm-controller`) as components."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown component {', '.join(unknown)} (known: {', '.join(BY_NAME)})")
    return tuple(c for c in ALL if c.name in names)
