"""Wiring of the image controllers: ImageRepository → scan; ImagePolicy → pick, again
whenever the repository it reads is scanned; ImageUpdateAutomation → setters, commit,
push, again whenever a policy of its namespace changes.

Under the lockdown a policy reads only repositories of its own namespace, and an
automation pushes only through a GitRepository of its own (Flux's
--no-cross-namespace-refs); the repository controller references nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kidp_gitops.api import resources
from kidp_gitops.image import automation, imagepolicy, repository
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.informer import EventType
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.reconcile import Request

BY_REPOSITORY = "imageRepository"


@dataclass(frozen=True)
class ImageControllers:
    controllers: list[Controller]


def _repository_of(obj: JSON) -> list[str]:
    ref = (obj.get("spec") or {}).get("imageRepositoryRef") or {}
    ns = ref.get("namespace") or obj["metadata"].get("namespace", "")
    return [f"{ns}/{ref['name']}"] if ref.get("name") else []


async def image_controllers(
    ctx: Context, *, reflector: bool = True, updater: bool = True
) -> ImageControllers:
    """The image-reflector controllers (ImageRepository, ImagePolicy) and the
    image-automation one (ImageUpdateAutomation), each when asked for: Flux deploys them
    apart, and the automation then only watches the policies."""
    tags = repository.TagStore(ctx.data_dir / "image-tags")
    workdir = ctx.data_dir / "image-work"
    workdir.mkdir(parents=True, exist_ok=True)
    repos = await ctx.mapper.resource(resources.IMAGE_REPOSITORY.api_version(), repository.KIND)
    policies = await ctx.mapper.resource(resources.IMAGE_POLICY.api_version(), imagepolicy.KIND)
    automations = await ctx.mapper.resource(
        resources.IMAGE_UPDATE_AUTOMATION.api_version(), automation.KIND
    )
    git_repos = await ctx.mapper.resource(resources.GIT_REPOSITORY.api_version(), "GitRepository")

    built: list[Controller] = []
    if reflector:
        built += _reflector(ctx, repos, policies, tags)
    if updater:
        built.append(_automation(ctx, automations, git_repos, policies, workdir))
    return ImageControllers(built)


def _reflector(
    ctx: Context, repos: Resource, policies: Resource, tags: repository.TagStore
) -> list[Controller]:
    repo_informer = ctx.cache.own(repos, namespace=ctx.namespace)
    repo_controller = Controller(
        "imagerepository",
        repo_informer,
        repository.ImageRepositoryReconciler(ctx, repos, repo_informer, tags),
        concurrency=ctx.concurrency,
    )

    policy_informer = ctx.cache.own(policies, namespace=ctx.namespace)
    policy_informer.add_indexer(BY_REPOSITORY, _repository_of)
    policy_controller = Controller(
        "imagepolicy",
        policy_informer,
        imagepolicy.ImagePolicyReconciler(ctx, policies, policy_informer, repos, tags),
        concurrency=ctx.concurrency,
    )

    def readers(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        for policy in policy_informer.by_index(
            BY_REPOSITORY, f"{meta.get('namespace')}/{meta['name']}"
        ):
            yield Request(policy["metadata"].get("namespace", ""), policy["metadata"]["name"])

    policy_controller.watch(repo_informer, readers)
    return [repo_controller, policy_controller]


def _automation(
    ctx: Context, automations: Resource, git_repos: Resource, policies: Resource, workdir: Path
) -> Controller:
    # The reflector's informer of policies when both run in one process (the cache keeps
    # one per kind and selector).
    policy_informer = ctx.cache.own(policies, namespace=ctx.namespace)
    automation_informer = ctx.cache.own(automations, namespace=ctx.namespace)
    automation_controller = Controller(
        "imageupdateautomation",
        automation_informer,
        automation.ImageUpdateAutomationReconciler(
            ctx, automations, automation_informer, git_repos, policies, workdir
        ),
        concurrency=ctx.concurrency,
    )

    def automations_of(event: EventType, obj: JSON) -> Iterable[Request]:
        ns = obj["metadata"].get("namespace")
        for item in automation_informer.objects():
            if item["metadata"].get("namespace") == ns:
                yield Request(ns or "", item["metadata"]["name"])

    automation_controller.watch(policy_informer, automations_of)
    return automation_controller
