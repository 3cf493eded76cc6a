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
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from kidp_gitops.api import image as api
from kidp_gitops.api import meta, source
from kidp_gitops.image import message, setters
from kidp_gitops.kube.errors import ApiError
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.runtime import conditions, credentials, failures, secrets
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.vcs import gitenv, giterrors
from kidp_gitops.vcs.worktree import WorkingClone

KIND = "ImageUpdateAutomation"
INVALID_SPEC = "InvalidSpec"
INVALID_TEMPLATE = "InvalidMessageTemplate"
INVALID_POLICY_SELECTOR = "InvalidPolicySelector"
GIT_TIMEOUT = 120.0
SOURCE_RETRY_SECONDS = 15.0
"""The GitRepository may be created any moment."""
GIT_RETRY_SECONDS = 30.0

ERRORS: failures.Table[api.ImageUpdateAutomationSpec] = failures.Table(
    failures.wait(conditions.DEPENDENCY_NOT_READY, after=SOURCE_RETRY_SECONDS),
    failures.stall(giterrors.InvalidURL, reason=INVALID_SPEC),
    failures.stall(giterrors.InvalidRef, reason=INVALID_SPEC),
    failures.retry(giterrors.GitError, after=GIT_RETRY_SECONDS),
    failures.retry(
        credentials.CredentialsError,
        after=GIT_RETRY_SECONDS,
        reason=conditions.AUTHENTICATION_FAILED,
    ),
)


@dataclass(frozen=True)
class GitSource:
    """The GitRepository the automation pushes through."""

    namespace: str
    spec: source.GitRepositorySpec


@dataclass(frozen=True)
class Outcome:
    """What a run did in Git."""

    branch: str
    source_revision: str
    """'<branch>@sha1:<commit>' checked out before the update."""
    commit: str | None
    """The pushed commit; None when nothing changed."""
    files: list[str]


class ImageUpdateAutomationReconciler(
    TypedReconciler[api.ImageUpdateAutomation, api.ImageUpdateAutomationStatus]
):
    kind = KIND
    model = api.ImageUpdateAutomation
    status_model = api.ImageUpdateAutomationStatus
    errors = ERRORS

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        automations: Informer,
        git_repositories: Resource,
        policies: Resource,
        workdir: Path,
    ):
        super().__init__(ctx.client, resource, ctx.events, automations)
        self.git_repositories = git_repositories
        self.policies = policies
        self.workdir = workdir
        self.lockdown = ctx.lockdown

    async def run(
        self, obj: api.ImageUpdateAutomation, status: api.ImageUpdateAutomationStatus
    ) -> Result:
        spec = obj.spec
        if spec.git is None:
            raise StalledError(INVALID_SPEC, "spec.git is required (commit author, push branch)")
        repo = await self._source(obj.namespace, spec)
        auth = await self._auth(repo)
        latest = await self._latest_images(obj.namespace, spec)
        checkout_branch = _checkout_branch(spec, repo.spec)
        push_branch = (spec.git.push.branch if spec.git.push else None) or checkout_branch
        conditions.mark_reconciling(
            status,
            conditions.PROGRESSING,
            f"updating images in {repo.spec.url} (branch '{push_branch or 'default'}')",
            obj.generation,
        )
        now = typed_status.now()
        deadline = gitenv.Deadline.after(GIT_TIMEOUT)
        try:
            async with WorkingClone(repo.spec.url, auth, deadline, self.workdir) as clone:
                outcome = await self._update(
                    clone, spec, checkout_branch, push_branch, latest, f"{obj.namespace}/{obj.name}"
                )
        except giterrors.GitError:
            status.last_automation_run_time = now
            raise
        status.last_automation_run_time = now
        status.observed_source_revision = outcome.source_revision
        status.observed_policies = {
            key.split(":", 1)[1]: api.ImageRef(name=v.name, tag=v.tag)
            for key, v in sorted(latest.items())
        }
        requeue = Result(requeue_after=jittered(spec.interval.seconds))
        if outcome.commit is None:
            message = "repository up-to-date: no updates made"
            conditions.mark_ready(status, conditions.SUCCEEDED, message, obj.generation)
            return requeue
        status.last_push_commit = outcome.commit
        status.last_push_time = typed_status.now()
        text = f"committed and pushed commit '{outcome.commit[:12]}' to branch '{outcome.branch}'"
        conditions.mark_ready(status, conditions.SUCCEEDED, text, obj.generation)
        self.event(
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

    async def _source(self, namespace: str, spec: api.ImageUpdateAutomationSpec) -> GitSource:
        ref = spec.source_ref
        source_ns = ref.namespace or namespace
        self.lockdown.check_ref(namespace, ref.kind, source_ns, ref.name)
        try:
            found = await self.client.get(self.git_repositories.path(source_ns, ref.name))
        except ApiError as err:
            if err.not_found:
                raise ReconcileError(
                    conditions.DEPENDENCY_NOT_READY,
                    f"GitRepository '{source_ns}/{ref.name}' not found",
                ) from err
            raise
        try:
            repo = source.GitRepository.model_validate(found)
        except ValidationError as err:
            raise StalledError(
                INVALID_SPEC, f"its GitRepository is invalid: {meta.describe(err)[0]}"
            ) from err
        if repo.spec is None:
            raise StalledError(INVALID_SPEC, f"GitRepository '{source_ns}/{ref.name}' has no spec")
        return GitSource(source_ns, repo.spec)

    async def _auth(self, found: GitSource) -> gitenv.Auth | None:
        ref = found.spec.secret_ref
        if ref is None:
            return None
        missing = f"secret '{found.namespace}/{ref.name}' of the GitRepository not found"
        data = await secrets.data(self.client, found.namespace, ref.name, missing)
        where = f"{found.namespace}/{ref.name}"
        return gitenv.Auth.from_secret(
            data, credentials.tls_data(data, where, legacy=credentials.LEGACY_GIT)
        )

    async def _latest_images(
        self, namespace: str, spec: api.ImageUpdateAutomationSpec
    ) -> dict[str, setters.Latest]:
        """'<namespace>:<name>' → the latest image of every selected, ready policy."""
        selector = _selector(spec.policy_selector)
        params = {"labelSelector": selector} if selector else None
        listed = await self.client.get(self.policies.path(namespace), params)
        found = {}
        for item in listed.get("items") or []:
            st = typed_status.parse(api.ImagePolicyStatus, item.get("status") or {})
            ref = st.latest_ref
            if not st.ready or ref is None:
                continue
            key = f"{namespace}:{item['metadata']['name']}"
            found[key] = setters.Latest(ref.name, ref.tag, ref.digest)
        return found


def _checkout_branch(
    spec: api.ImageUpdateAutomationSpec, source_spec: source.GitRepositorySpec
) -> str | None:
    """The branch the automation checks out and pushes from: `git.checkout.ref`'s, else
    the GitRepository's; None: the remote's default. Only a branch can take a push, so
    a checkout of a tag, a commit, a semver range or another kind of ref is refused."""
    if spec.git and spec.git.checkout:
        ref = spec.git.checkout.ref
        branch = _branch_of(ref)
        if branch is None and (ref.tag or ref.commit or ref.semver or ref.name):
            raise StalledError(INVALID_SPEC, "git.checkout.ref must name a branch to push from")
        return branch
    return _branch_of(source_spec.ref) if source_spec.ref else None


def _branch_of(ref: source.GitRepositoryRef) -> str | None:
    """The branch a reference names: `name` (Flux: over branch, tag and semver) when it is
    `refs/heads/...`, else `branch`; None when it names something else or nothing."""
    if ref.commit:
        return None
    if ref.name:
        return ref.name.removeprefix(_HEADS) if ref.name.startswith(_HEADS) else None
    return ref.branch


_HEADS = "refs/heads/"
_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "", "DoesNotExist": "!"}


def _selector(selector: meta.LabelSelector | None) -> str:
    """`policySelector` as a label selector's string form. An expression Kubernetes would
    refuse (another operator, In/NotIn without values, Exists/DoesNotExist with some)
    is refused, as Flux refuses it (InvalidPolicySelector): dropped, it would select
    more policies than asked, and update more images."""
    if selector is None:
        return ""
    terms = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for index, expr in enumerate(selector.match_expressions or []):
        op, values = expr.operator, expr.values or []
        where = f"policySelector.matchExpressions[{index}]"
        if op not in _OPERATORS:
            raise StalledError(
                INVALID_POLICY_SELECTOR,
                f"{where}.operator '{op}' is not one of In, NotIn, Exists, DoesNotExist",
            )
        if (op in ("In", "NotIn")) != bool(values):
            wanted = "needs values" if op in ("In", "NotIn") else "takes no values"
            raise StalledError(INVALID_POLICY_SELECTOR, f"{where}: {op} {wanted}")
        if op in ("In", "NotIn"):
            terms.append(f"{expr.key} {_OPERATORS[op]} ({','.join(values)})")
        else:
            terms.append(f"{_OPERATORS[op]}{expr.key}")
    return ",".join(terms)


def _inside(root: Path, rel: str) -> Path:
    clean = PurePosixPath(rel.strip())
    target = (root / clean).resolve()
    if clean.is_absolute() or not target.is_relative_to(root.resolve()):
        raise StalledError(INVALID_SPEC, f"update.path '{rel}' leaves the repository")
    return target
