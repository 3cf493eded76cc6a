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

from kidp_gitops.image import automation, imagepolicy, repository
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.informer import EventType
from kidp_gitops.kube.mapper import RestMapper
from kidp_gitops.runtime.cache import InformerCache
from kidp_gitops.runtime.controller import Controller
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.reconcile import Request
from kidp_gitops.runtime.tenancy import Lockdown

API_VERSION = "image.toolkit.fluxcd.io/v1beta2"
SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"
BY_REPOSITORY = "imageRepository"


@dataclass(frozen=True)
class ImageControllers:
    controllers: list[Controller]


def _repository_of(obj: JSON) -> list[str]:
    ref = (obj.get("spec") or {}).get("imageRepositoryRef") or {}
    ns = ref.get("namespace") or obj["metadata"].get("namespace", "")
    return [f"{ns}/{ref['name']}"] if ref.get("name") else []


async def image_controllers(
    client: KubeClient,
    mapper: RestMapper,
    events: EventRecorder,
    data_dir: Path,
    *,
    cache: InformerCache,
    namespace: str | None = None,
    concurrency: int = 4,
    lockdown: Lockdown | None = None,
) -> ImageControllers:
    lockdown = lockdown or Lockdown()
    tags = repository.TagStore(data_dir / "image-tags")
    workdir = data_dir / "image-work"
    workdir.mkdir(parents=True, exist_ok=True)
    repos = await mapper.resource(API_VERSION, repository.KIND)
    policies = await mapper.resource(API_VERSION, imagepolicy.KIND)
    automations = await mapper.resource(API_VERSION, automation.KIND)
    git_repos = await mapper.resource(SOURCE_API_VERSION, "GitRepository")

    repo_informer = cache.own(repos, namespace=namespace)
    repo_controller = Controller(
        "imagerepository",
        repo_informer,
        repository.ImageRepositoryReconciler(client, repos, events, tags),
        concurrency=concurrency,
    )

    policy_informer = cache.own(policies, namespace=namespace)
    policy_informer.add_indexer(BY_REPOSITORY, _repository_of)
    policy_controller = Controller(
        "imagepolicy",
        policy_informer,
        imagepolicy.ImagePolicyReconciler(client, policies, events, repos, tags, lockdown),
        concurrency=concurrency,
    )

    def readers(event: EventType, obj: JSON) -> Iterable[Request]:
        meta = obj["metadata"]
        for policy in policy_informer.by_index(
            BY_REPOSITORY, f"{meta.get('namespace')}/{meta['name']}"
        ):
            yield Request(policy["metadata"].get("namespace", ""), policy["metadata"]["name"])

    policy_controller.watch(repo_informer, readers)

    automation_informer = cache.own(automations, namespace=namespace)
    automation_controller = Controller(
        "imageupdateautomation",
        automation_informer,
        automation.ImageUpdateAutomationReconciler(
            client, automations, events, git_repos, policies, workdir, lockdown
        ),
        concurrency=concurrency,
    )

    def automations_of(event: EventType, obj: JSON) -> Iterable[Request]:
        ns = obj["metadata"].get("namespace")
        for item in automation_informer.objects():
            if item["metadata"].get("namespace") == ns:
                yield Request(ns or "", item["metadata"]["name"])

    automation_controller.watch(policy_informer, automations_of)
    return ImageControllers([repo_controller, policy_controller, automation_controller])
