"""The ImageUpdateAutomation reconciler: the image-automation controller.

    GitRepository (sourceRef) → its credentials → the ImagePolicies (policySelector) with
    a latest image → clone the checkout branch, switch to the push branch → Setters under
    update.path → commit as spec.git.commit.author → push → status → Ready

Under the lockdown the GitRepository must be in the automation's namespace (Flux's
--no-cross-namespace-refs; refused before it is read, so nothing is cloned or pushed).
Nothing changed → no commit and no push ("no updates made"). The push branch is taken
from the remote when it exists (so what was pushed before is not made again), else it
starts at the checkout branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from kidp_gitops.api import image as api
from kidp_gitops.api import meta
from kidp_gitops.image import message, setters
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions, lifecycle, secrets
from kidp_gitops.runtime.events import EventRecorder
from kidp_gitops.runtime.lifecycle import ObjectReconciler
from kidp_gitops.runtime.reconcile import (
    ReconcileError,
    Result,
    RetryError,
    StalledError,
    WaitingError,
)
from kidp_gitops.runtime.tenancy import Lockdown
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.vcs import gitenv, giterrors
from kidp_gitops.vcs.worktree import WorkingClone

KIND = "ImageUpdateAutomation"
INVALID_SPEC = "InvalidSpec"
INVALID_TEMPLATE = "InvalidMessageTemplate"
GIT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Outcome:
    """What a run did in Git."""

    branch: str
    source_revision: str
    """'<branch>@sha1:<commit>' checked out before the update."""
    commit: str | None
    """The pushed commit; None when nothing changed."""
    files: list[str]


class ImageUpdateAutomationReconciler(ObjectReconciler):
    kind = KIND

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        events: EventRecorder,
        git_repositories: Resource,
        policies: Resource,
        workdir: Path,
        lockdown: Lockdown | None = None,
    ):
        super().__init__(client, resource, events)
        self.git_repositories = git_repositories
        self.policies = policies
        self.workdir = workdir
        self.lockdown = lockdown or Lockdown()

    async def run(self, obj: JSON, status: dict[str, Any]) -> Result:
        meta = obj["metadata"]
        namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation", 0)
        spec = _spec(obj)
        if spec.git is None:
            raise StalledError(INVALID_SPEC, "spec.git is required (commit author, push branch)")
        source = await self._source(namespace, spec)
        source_spec = source.get("spec") or {}
        auth = await self._auth(source["metadata"]["namespace"], source_spec)
        latest = await self._latest_images(namespace, spec)
        checkout_branch = _checkout_branch(spec, source_spec)
        push_branch = (spec.git.push.branch if spec.git.push else None) or checkout_branch
        conditions.mark_reconciling(
            status,
            conditions.PROGRESSING,
            f"updating images in {source_spec.get('url')} (branch '{push_branch or 'default'}')",
            generation,
        )
        now = _now()
        deadline = gitenv.Deadline.after(GIT_TIMEOUT)
        try:
            async with WorkingClone(source_spec["url"], auth, deadline, self.workdir) as clone:
                outcome = await self._update(
                    clone, spec, checkout_branch, push_branch, latest, f"{namespace}/{name}"
                )
        except giterrors.GitError as err:
            status["lastAutomationRunTime"] = now
            raise _git_error(err) from err
        status["lastAutomationRunTime"] = now
        status["observedSourceRevision"] = outcome.source_revision
        status["observedPolicies"] = {
            key.split(":", 1)[1]: {"name": v.name, "tag": v.tag}
            for key, v in sorted(latest.items())
        }
        requeue = Result(requeue_after=jittered(spec.interval.seconds))
        if outcome.commit is None:
            message = "repository up-to-date: no updates made"
            conditions.mark_ready(status, conditions.SUCCEEDED, message, generation)
            return requeue
        status["lastPushCommit"] = outcome.commit
        status["lastPushTime"] = _now()
        text = f"committed and pushed commit '{outcome.commit[:12]}' to branch '{outcome.branch}'"
        conditions.mark_ready(status, conditions.SUCCEEDED, text, generation)
        self.events.record(
            obj,
            "Normal",
            conditions.SUCCEEDED,
            f"{text}: updated {', '.join(outcome.files)}",
            {f"{api.GROUP}/revision": f"{outcome.branch}@sha1:{outcome.commit}"},
        )
        return requeue

    async def _update(
        self,
        clone: WorkingClone,
        spec: api.ImageUpdateAutomationSpec,
        checkout_branch: str | None,
        push_branch: str | None,
        latest: dict[str, setters.Latest],
        automation: str,
    ) -> Outcome:
        """Check out, apply the setters, and commit and push what changed."""
        assert spec.git is not None  # checked by run()
        branch = await clone.checkout(checkout_branch, push_branch)
        source_revision = f"{branch}@sha1:{await clone.head()}"
        target = _inside(clone.path, spec.update.path or ".")
        if not target.is_dir():
            raise StalledError(
                INVALID_SPEC, f"update.path '{spec.update.path}' is not a directory of '{branch}'"
            )
        changed = setters.update_tree(clone.path, target, latest)
        if not changed.changes:
            return Outcome(branch, source_revision, None, [])
        text = self._message(spec.git.commit, automation, changed.changes)
        author = spec.git.commit.author
        commit = await clone.commit(author.name or author.email, author.email, text)
        if commit is not None:
            await clone.push(branch, spec.git.push.options if spec.git.push else {})
        return Outcome(branch, source_revision, commit, changed.files)

    def _message(
        self, commit: api.CommitSpec, automation: str, changes: list[setters.Change]
    ) -> str:
        try:
            return message.render(
                commit.message_template, automation, commit.message_template_values, changes
            )
        except message.TemplateError as err:
            raise StalledError(INVALID_TEMPLATE, str(err)) from err

    async def _source(self, namespace: str, spec: api.ImageUpdateAutomationSpec) -> JSON:
        ref = spec.source_ref
        source_ns = ref.namespace or namespace
        self.lockdown.check_ref(namespace, ref.kind, source_ns, ref.name)
        try:
            return await self.client.get(self.git_repositories.path(source_ns, ref.name))
        except ApiError as err:
            if err.not_found:
                raise WaitingError(
                    conditions.DEPENDENCY_NOT_READY,
                    f"GitRepository '{source_ns}/{ref.name}' not found",
                    retry_after=15,
                ) from err
            raise

    async def _auth(self, namespace: str, source_spec: JSON) -> gitenv.Auth | None:
        ref = source_spec.get("secretRef") or {}
        if not ref.get("name"):
            return None
        missing = f"secret '{namespace}/{ref['name']}' of the GitRepository not found"
        data = await secrets.data(self.client, namespace, ref["name"], missing)
        return gitenv.Auth.from_secret(data)

    async def _latest_images(
        self, namespace: str, spec: api.ImageUpdateAutomationSpec
    ) -> dict[str, setters.Latest]:
        """'<namespace>:<name>' → the latest image of every selected, ready policy."""
        selector = _selector(spec.policy_selector)
        params = {"labelSelector": selector} if selector else None
        listed = await self.client.get(self.policies.path(namespace), params)
        found = {}
        for item in listed.get("items") or []:
            st = item.get("status") or {}
            ref = st.get("latestRef")
            if not conditions.is_true(st, conditions.READY) or not ref:
                continue
            key = f"{namespace}:{item['metadata']['name']}"
            found[key] = setters.Latest(ref["name"], ref["tag"], ref.get("digest"))
        return found


def _spec(obj: JSON) -> api.ImageUpdateAutomationSpec:
    spec = lifecycle.parse(api.ImageUpdateAutomation, obj).spec
    if spec is None:
        raise StalledError(INVALID_SPEC, "spec.sourceRef is required")
    return spec


def _checkout_branch(spec: api.ImageUpdateAutomationSpec, source_spec: JSON) -> str | None:
    if spec.git and spec.git.checkout and spec.git.checkout.ref.branch:
        return spec.git.checkout.ref.branch
    if (
        spec.git
        and spec.git.checkout
        and (
            spec.git.checkout.ref.tag
            or spec.git.checkout.ref.commit
            or spec.git.checkout.ref.semver
        )
    ):
        raise StalledError(INVALID_SPEC, "git.checkout.ref must name a branch to push from")
    branch = (source_spec.get("ref") or {}).get("branch")
    return str(branch) if branch else None


def _selector(selector: meta.LabelSelector | None) -> str:
    if selector is None:
        return ""
    terms = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or []:
        values = ",".join(expr.values or [])
        op = expr.operator
        if op == "In":
            terms.append(f"{expr.key} in ({values})")
        elif op == "NotIn":
            terms.append(f"{expr.key} notin ({values})")
        elif op == "Exists":
            terms.append(expr.key)
        elif op == "DoesNotExist":
            terms.append(f"!{expr.key}")
    return ",".join(terms)


def _inside(root: Path, rel: str) -> Path:
    clean = PurePosixPath(rel.strip())
    target = (root / clean).resolve()
    if clean.is_absolute() or not target.is_relative_to(root.resolve()):
        raise StalledError(INVALID_SPEC, f"update.path '{rel}' leaves the repository")
    return target


def _git_error(err: giterrors.GitError) -> ReconcileError:
    if isinstance(err, giterrors.InvalidURL | giterrors.InvalidRef):
        return StalledError(INVALID_SPEC, str(err))
    return RetryError(err.reason, str(err), retry_after=30)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
