"""ImageUpdateAutomation, as the PRD writes it (image.toolkit.fluxcd.io/v1beta1,
promote-to-production), against the real git server, registry and control plane: the
newest tag is committed by "FluxCD Automation" to branch production, comments and
formatting kept; a run with nothing new makes no commit; a newer tag makes the next."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.image.helpers import create, path, request_reconcile, wait_ready
from tests.integration.image.registry import Registry
from tests.integration.source.helpers import condition, create_repo, create_secret
from tests.integration.wait import until

pytestmark = pytest.mark.usefixtures("engine")

# The PRD's "Automated Promotion" block, as written there.
PRD_AUTOMATION = """\
# Auto-promote if staging healthy for 24h
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImageUpdateAutomation
metadata:
  name: promote-to-production
spec:
  interval: 1h
  sourceRef:
    kind: GitRepository
    name: kidp-infrastructure
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcd@company.com
        name: FluxCD Automation
    push:
      branch: production
  update:
    path: ./infrastructure/overlays/production
    strategy: Setters
"""

KUSTOMIZATION = """\
# Production overlay: the image tag is promoted by Flux image automation.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: app
    newName: {image}   # {{"$imagepolicy": "{ns}:app:name"}}
    newTag: "1.0.0" # {{"$imagepolicy": "{ns}:app:tag"}}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          # pinned by the automation
          image: {image}:1.0.0 # {{"$imagepolicy": "{ns}:app"}}
          ports: [{{containerPort: 8080}}]
"""


async def event_message(kube: KubeClient, namespace: str, name: str, needle: str) -> str | None:
    """The message of an event about automation `name` that contains `needle`."""
    events = await kube.get(f"/api/v1/namespaces/{namespace}/events")
    for event in events["items"]:
        if event["involvedObject"].get("name") == name and needle in event.get("message", ""):
            return str(event["message"])
    return None


def _files(image: str, ns: str) -> dict[str, str]:
    return {
        "infrastructure/overlays/production/kustomization.yaml": KUSTOMIZATION.format(
            image=image, ns=ns
        ),
        "infrastructure/overlays/production/deployment.yaml": DEPLOYMENT.format(image=image, ns=ns),
        # Outside update.path: never touched, although it has a marker.
        "infrastructure/overlays/staging/deployment.yaml": DEPLOYMENT.format(image=image, ns=ns),
    }


async def test_prd_automation_promotes_the_newest_tag_to_production(
    kube: KubeClient,
    namespace: str,
    registry: Registry,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    repo = f"team/app-{uuid.uuid4().hex[:8]}"
    image = f"{registry.host}/{repo}"
    registry.push(repo, "1.0.0", "1.1.0", "1.2.0")
    name = unique_repo("infra")
    with git_repos.worktree(name) as wt:
        wt.write(_files(image, namespace))
        main_sha = wt.commit("initial layout")
        wt.push()

    await create_secret(
        kube, namespace, "git-creds", {"username": http_git.username, "password": http_git.password}
    )
    await create_repo(
        kube,
        namespace,
        "kidp-infrastructure",
        {"interval": "1h", "url": http_git.url(name), "secretRef": {"name": "git-creds"}},
    )
    await create(
        kube,
        "ImageRepository",
        namespace,
        "app",
        {"image": image, "interval": "1h", "insecure": True},
    )
    await create(
        kube,
        "ImagePolicy",
        namespace,
        "app",
        {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "1.x"}}},
    )
    await wait_ready(kube, "ImagePolicy", namespace, "app")

    manifest = yaml.safe_load(PRD_AUTOMATION)
    await kube.create(path("ImageUpdateAutomation", namespace, version="v1beta1"), manifest)
    done = await wait_ready(
        kube,
        "ImageUpdateAutomation",
        namespace,
        "promote-to-production",
        also=lambda o: bool(o["status"].get("lastPushCommit")),
    )
    pushed = done["status"]["lastPushCommit"]
    assert done["status"]["lastAutomationRunTime"]
    assert done["status"]["lastPushTime"]
    # The run that pushed says so in an event; the Ready message may already be that of a
    # later run (a watch can trigger one), which found production up to date.
    pushed_event = await until(
        lambda: event_message(kube, namespace, "promote-to-production", "to branch 'production'"),
        30,
        "the push event",
    )
    assert pushed[:12] in pushed_event
    assert done["status"]["observedSourceRevision"] in (
        f"production@sha1:{main_sha}",  # production did not exist: it started at main
        f"production@sha1:{pushed}",  # a later run, on the pushed branch
    )

    with git_repos.worktree(name, "production") as wt:
        assert wt.head() == pushed
        assert wt.git("rev-parse", "main").strip() == main_sha  # main is left alone
        log = wt.git("log", "-1", "--format=%an <%ae>%n%cn <%ce>%n%P%n%B").splitlines()
        assert log[0] == "FluxCD Automation <fluxcd@company.com>"
        assert log[1] == "FluxCD Automation <fluxcd@company.com>"
        assert log[2] == main_sha
        assert f"Automation name: {namespace}/promote-to-production" in log
        overlay = wt.path / "infrastructure/overlays/production"
        expected = _files(image, namespace)
        prod = "infrastructure/overlays/production"
        assert (overlay / "kustomization.yaml").read_text() == expected[
            f"{prod}/kustomization.yaml"
        ].replace('newTag: "1.0.0"', 'newTag: "1.2.0"')
        assert (overlay / "deployment.yaml").read_text() == expected[
            f"{prod}/deployment.yaml"
        ].replace(f"{image}:1.0.0", f"{image}:1.2.0")
        staging = wt.path / "infrastructure/overlays/staging/deployment.yaml"
        assert f"{image}:1.0.0" in staging.read_text()

    # Nothing new: the run finds production up to date and makes no commit.
    stamp = f"{time.time():.6f}"
    await kube.patch(
        path("ImageUpdateAutomation", namespace, "promote-to-production"),
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )
    again = await wait_ready(
        kube,
        "ImageUpdateAutomation",
        namespace,
        "promote-to-production",
        also=lambda o: o["status"].get("lastHandledReconcileAt") == stamp,
    )
    assert again["status"]["lastPushCommit"] == pushed
    assert "no updates made" in condition(again)["message"]
    with git_repos.worktree(name, "production") as wt:
        assert wt.head() == pushed

    # A newer tag: the policy moves, the automation follows on top of its last commit.
    registry.push(repo, "1.3.0")
    await request_reconcile(kube, "ImageRepository", namespace, "app")
    moved = await wait_ready(
        kube,
        "ImageUpdateAutomation",
        namespace,
        "promote-to-production",
        also=lambda o: o["status"].get("lastPushCommit") not in (None, pushed),
    )
    with git_repos.worktree(name, "production") as wt:
        assert wt.head() == moved["status"]["lastPushCommit"]
        assert wt.git("log", "-1", "--format=%P").strip() == pushed
        text = (wt.path / "infrastructure/overlays/production/deployment.yaml").read_text()
        assert f"image: {image}:1.3.0 # " in text


async def test_v1beta2_template_selector_and_wrong_git_credentials(
    kube: KubeClient,
    namespace: str,
    registry: Registry,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = f"team/api-{uuid.uuid4().hex[:8]}"
    image = f"{registry.host}/{repo}"
    registry.push(repo, "0.9.0", "1.4.0")
    name = unique_repo("apps")
    with git_repos.worktree(name) as wt:
        wt.write(
            {
                "apps/api.yaml": f'image: {image}:0.9.0 # {{"$imagepolicy": "{namespace}:api"}}\n',
                "apps/web.yaml": f'image: {image}:0.9.0 # {{"$imagepolicy": "{namespace}:web"}}\n',
            }
        )
        wt.commit("apps")
        wt.push()
    wrong = "wrong-" + http_git.password
    await create_secret(kube, namespace, "bad-creds", {"username": "flux", "password": wrong})
    await create_secret(
        kube, namespace, "git-creds", {"username": http_git.username, "password": http_git.password}
    )
    url = http_git.url(name)
    await create_repo(
        kube,
        namespace,
        "denied",
        {"interval": "1h", "url": url, "secretRef": {"name": "bad-creds"}},
    )
    await create_repo(
        kube, namespace, "apps", {"interval": "1h", "url": url, "secretRef": {"name": "git-creds"}}
    )
    await create(
        kube,
        "ImageRepository",
        namespace,
        "api",
        {"image": image, "interval": "1h", "insecure": True},
        version="v1beta2",
    )
    for policy in ("api", "web"):
        await create(
            kube,
            "ImagePolicy",
            namespace,
            policy,
            {"imageRepositoryRef": {"name": "api"}, "policy": {"semver": {"range": ">=0.1.0"}}},
            version="v1beta2",
        )
        # Only the policy labelled for the automation is applied.
        if policy == "api":
            await kube.patch(
                path("ImagePolicy", namespace, policy),
                {"metadata": {"labels": {"promote": "yes"}}},
            )
        await wait_ready(kube, "ImagePolicy", namespace, policy)

    git = {
        "commit": {
            "author": {"name": "Bot", "email": "bot@example.com"},
            "messageTemplate": "Promote {{ .Values.env }}\n\n{{ range .Changed.Changes -}}\n"
            "{{ .OldValue }} => {{ .NewValue }}\n{{ end -}}",
            "messageTemplateValues": {"env": "prod"},
        },
    }
    await create(
        kube,
        "ImageUpdateAutomation",
        namespace,
        "denied",
        {"interval": "1h", "sourceRef": {"kind": "GitRepository", "name": "denied"}, "git": git},
        version="v1beta2",
    )
    failed = await wait_ready(kube, "ImageUpdateAutomation", namespace, "denied", status="False")
    ready = condition(failed)
    assert ready["reason"] == "AuthenticationFailed", ready
    assert wrong not in str(failed["status"])

    await create(
        kube,
        "ImageUpdateAutomation",
        namespace,
        "apps",
        {
            "interval": "1h",
            "sourceRef": {"kind": "GitRepository", "name": "apps"},
            "git": git,
            "policySelector": {"matchLabels": {"promote": "yes"}},
            "update": {"path": "./apps", "strategy": "Setters"},
        },
        version="v1beta2",
    )
    done = await wait_ready(
        kube,
        "ImageUpdateAutomation",
        namespace,
        "apps",
        also=lambda o: bool(o["status"].get("lastPushCommit")),
    )
    with git_repos.worktree(name) as wt:  # no push branch: back to the checkout (main)
        assert wt.head() == done["status"]["lastPushCommit"]
        assert wt.git("log", "-1", "--format=%B").strip() == (
            f"Promote prod\n\n{image}:0.9.0 => {image}:1.4.0"
        )
        assert f"{image}:1.4.0" in (wt.path / "apps/api.yaml").read_text()
        assert f"{image}:0.9.0" in (wt.path / "apps/web.yaml").read_text()

    # Suspended: a newer tag moves the policy, but nothing is pushed until resumed.
    automation = path("ImageUpdateAutomation", namespace, "apps")
    caplog.set_level(logging.INFO, logger="kidp_gitops.runtime.lifecycle")
    await kube.patch(automation, {"spec": {"suspend": True}})
    await until(lambda: _looked_suspended(caplog, namespace, 0), 30, "the suspension seen")
    looked = _suspended_looks(caplog, namespace)
    registry.push(repo, "1.5.0")
    await request_reconcile(kube, "ImageRepository", namespace, "api")
    await wait_ready(
        kube,
        "ImagePolicy",
        namespace,
        "api",
        also=lambda o: o["status"].get("latestRef", {}).get("tag") == "1.5.0",
    )
    # The moved policy makes the engine look at the automation again (a pass that sees
    # it suspended): a (wrong) push would have happened in that pass; none must.
    await until(
        lambda: _looked_suspended(caplog, namespace, looked), 30, "a look after the policy moved"
    )
    with git_repos.worktree(name) as wt:
        assert wt.head() == done["status"]["lastPushCommit"]
    await kube.patch(automation, {"spec": {"suspend": False}})
    resumed = await wait_ready(
        kube,
        "ImageUpdateAutomation",
        namespace,
        "apps",
        also=lambda o: o["status"].get("lastPushCommit") != done["status"]["lastPushCommit"],
    )
    with git_repos.worktree(name) as wt:
        assert wt.head() == resumed["status"]["lastPushCommit"]
        assert f"{image}:1.5.0" in (wt.path / "apps/api.yaml").read_text()


def _suspended_looks(caplog: pytest.LogCaptureFixture, namespace: str) -> int:
    """The passes that found ImageUpdateAutomation `apps` suspended (lifecycle logs each)."""
    return sum(
        1
        for r in caplog.records
        if r.getMessage() == f"ImageUpdateAutomation {namespace}/apps is suspended"
    )


async def _looked_suspended(caplog: pytest.LogCaptureFixture, namespace: str, after: int) -> bool:
    return _suspended_looks(caplog, namespace) > after
