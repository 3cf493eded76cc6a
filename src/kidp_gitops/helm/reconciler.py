"""The HelmRelease reconciler: the PRD's Helm Controller.

    dependencies ready → HelmChart applied, its artifact ready → values composed →
    (deployed from this chart and these values already? done) → install or upgrade
    (helm --wait) → remediate a failure (uninstall / rollback) → test → Ready

An interval reconcile of an unchanged release costs a HelmChart apply, a values read and
one list of Helm's storage Secrets: no helm process. Only the chart and the values make
a release out of sync (see `action`): suspend/resume or an interval change is not an
upgrade. With `spec.test.enable`, the test result is read back from Helm's storage on
every reconcile (TestSuccess condition, `history[0].testHooks`): a failed test keeps
the release not Ready unless `test.ignoreFailures`, and a deployed revision that was
never tested is tested without an upgrade. With `spec.driftDetection`, an in-sync
release's objects are compared with the cluster (see `drift`): `warn` reports drift
(Drifted condition, DriftDetected event), `enabled` puts the objects back.

A failure keeps the last release and says why with Flux's reasons (InstallFailed,
UpgradeFailed, TestFailed, ArtifactFailed, ValuesError, DependencyNotReady); once the
remediation retries are spent the release is Stalled until its spec, chart or values
change. Deleting the HelmRelease uninstalls the release and deletes its HelmChart.

The steps find and act and return what happened (the chart, Helm's stored history, how
an install or upgrade ended, a test's outcome, drift); `report` writes the status from
those results, in one place.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kidp_gitops.api import helm as api
from kidp_gitops.api import meta
from kidp_gitops.helm import (
    action,
    chart,
    drift,
    install,
    kubeconfig,
    postrender,
    release,
    remediation,
    report,
    rollback,
    runner,
    suspicionstore,
    test,
    uninstall,
    upgrade,
    values,
)
from kidp_gitops.helm.action import Next
from kidp_gitops.helm.invocation import Invocation
from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.errors import ApiError, ConnectionFailed
from kidp_gitops.kube.informer import Informer
from kidp_gitops.kube.mapper import Resource
from kidp_gitops.kube.ssa import ResourceManager
from kidp_gitops.proc import background
from kidp_gitops.runtime import (
    conditions,
    dependencies,
    failures,
    lifecycle,
    metrics,
    outbound,
    redact,
    remote,
)
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, RetryError, StalledError
from kidp_gitops.runtime.workqueue import jittered
from kidp_gitops.storage.artifacts import ArtifactStore
from kidp_gitops.storage.fetch import ArtifactUnavailable
from kidp_gitops.storage.trees import ArtifactTrees

log = logging.getLogger(__name__)

KIND = "HelmRelease"
INSTALL_SUCCEEDED = "InstallSucceeded"
INSTALL_FAILED = "InstallFailed"
UPGRADE_SUCCEEDED = "UpgradeSucceeded"
UPGRADE_FAILED = "UpgradeFailed"
ROLLBACK_SUCCEEDED = "RollbackSucceeded"
ROLLBACK_FAILED = "RollbackFailed"
UNINSTALL_SUCCEEDED = "UninstallSucceeded"
UNINSTALL_FAILED = "UninstallFailed"
DRIFT_CORRECTED = "DriftCorrected"
RELEASE_UNLOCKED = "ReleaseUnlocked"
GET_LAST_RELEASE_FAILED = "GetLastReleaseFailed"
DEPRECATED_FIELD = "DeprecatedField"
INPUT_WAIT = 30.0
"""The longest wait for a dependency, the HelmChart or a Secret of the values before
looking again (sooner when the interval is shorter): a safety net, as the controller
is woken when they change."""
ARTIFACT_WAIT = 30.0
"""The wait before reading a chart's artifact again when it could not be read or holds
no single chart."""


class ChartUnavailable(ReconcileError):
    """The HelmChart could not be applied."""

    def __init__(self, message: str):
        super().__init__(conditions.ARTIFACT_FAILED, message)


class NoSingleChart(ReconcileError):
    """The chart's artifact holds no chart, or more than one."""

    def __init__(self, message: str):
        super().__init__(conditions.ARTIFACT_FAILED, message)


def _soon(spec: api.HelmReleaseSpec) -> float:
    return min(spec.interval.seconds, INPUT_WAIT)


ERRORS: failures.Table[api.HelmReleaseSpec] = failures.Table(
    failures.wait(conditions.DEPENDENCY_NOT_READY, after=_soon),
    failures.wait(chart.ChartNotReady, after=_soon, reason=conditions.ARTIFACT_FAILED),
    failures.wait(ChartUnavailable, after=_soon),
    failures.wait(values.ValuesError, after=_soon, reason=values.REASON),
    failures.wait(ArtifactUnavailable, after=ARTIFACT_WAIT, reason=conditions.ARTIFACT_FAILED),
    failures.wait(NoSingleChart, after=ARTIFACT_WAIT),
    # A remote back up is noticed within INPUT_WAIT (a HelmRelease has no retryInterval);
    # a fixed kubeConfig Secret at once (it is watched).
    failures.retry(remote.Unreachable, after=_soon),
    failures.retry(remote.InvalidKubeConfig, after=_soon),
    # The Helm helper died or was restarted under an action (another release's, maybe):
    # not this release's failure, so neither counted nor remediated; tried again.
    failures.backoff(runner.HelperGone),
)


@dataclass(frozen=True)
class Desired:
    """What this attempt releases: the chart's artifact and the composed values."""

    chart: chart.Chart
    values: dict[str, Any]


@dataclass(frozen=True)
class Inputs:
    """What an install or upgrade hands helm: files in a private scratch directory."""

    chart_dir: Path
    values_file: Path
    post_render: list[str]
    """helm's post-renderer flags (`spec.postRenderers`), or none."""
    scratch: Path

    def explain(self, err: runner.HelmFailed) -> str:
        """helm's error, and the post-renderer's own words when it failed (helm only
        says that it did)."""
        said = postrender.failure(self.scratch)
        return f"{err}: {said}" if said else str(err)


@dataclass(frozen=True)
class Step:
    """What every helm step of an attempt acts on: the HelmRelease and its release."""

    hr: api.HelmRelease
    inv: Invocation
    target: remote.Target
    """The cluster of the release, and the client acting there."""


@dataclass(frozen=True)
class Performed:
    """The action just done, and the release's history before it."""

    verb: Literal["install", "upgrade"]
    before: list[release.Revision]


class HelmReleaseReconciler(TypedReconciler[api.HelmRelease, api.HelmReleaseStatus]):
    kind = KIND
    model = api.HelmRelease
    status_model = api.HelmReleaseStatus
    errors = ERRORS

    def __init__(
        self,
        ctx: Context,
        resource: Resource,
        releases: Informer,
        charts: Resource,
        store: ArtifactStore | None,
        workdir: Path,
    ):
        super().__init__(ctx.client, resource, ctx.events, releases)
        self.charts = charts
        self.mapper = ctx.mapper
        self.lockdown = ctx.lockdown
        self.remotes = ctx.remotes
        self.trees = ArtifactTrees(workdir / "charts", store, outbound.current())
        self.home = workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        suspects = None
        if ctx.own_namespace is not None:
            name = ctx.own_name + suspicionstore.SUFFIX
            manager = ResourceManager(self.client, self.mapper, chart.POLICY)
            suspects = suspicionstore.SuspicionStore(manager, ctx.own_namespace, name)
        self.helm = runner.Helper(self.home, store=suspects)
        """Every helm action of this controller, in one helper process; the releases it
        suspects kept in the engine's own namespace."""

    # ---- the story ---------------------------------------------------------------------

    async def run(self, obj: api.HelmRelease, status: api.HelmReleaseStatus) -> Result:
        hr = obj
        self._check_access(hr)
        await self._check_dependencies(hr, status)
        helm_chart = await self._helm_chart(hr, status.helm_chart)
        report.inputs(status, helm_chart, hr.release_namespace())
        found = await self._chart(hr)
        composed = await self._values(hr)
        # The chart and values are this cluster's; the release is the target's, which
        # is checked to answer before helm runs: one that does not keeps its release.
        target = await self._target(hr)
        try:
            return await self._release(hr, status, Desired(found, composed), target)
        except ConnectionFailed as err:
            if target.remote is None:
                raise
            raise target.unreachable(err) from err

    async def _release(
        self,
        hr: api.HelmRelease,
        status: api.HelmReleaseStatus,
        desired: Desired,
        target: remote.Target,
    ) -> Result:
        """Install, upgrade, test, or check the deployed release for drift."""
        generation, found = hr.generation, desired.chart
        wanted = action.Wanted(
            found.digest,
            values.digest(desired.values),
            generation,
            postrender.digest(hr.spec),
            preserved_values=hr.spec.upgrade is not None and hr.spec.upgrade.preserve_values,
        )
        name, namespace = hr.release_name(), hr.release_namespace()
        stored = await self._stored(hr, target, namespace, name)
        last = remediation.last_attempt(hr.spec, status)
        next_ = action.decide(stored, wanted, last)

        if next_ is Next.NONE:
            report.kept(status, stored, generation, after_failures=last.failures > 0)
            # After failures, a new generation is a new attempt: its test runs again.
            retest = last.failures > 0 and test.enabled(hr.spec)
            # Under RetryOnFailure a failed test fails the last action, retried by an
            # upgrade, as helm-controller does; otherwise it is Stalled.
            retried = _retried(last, stored)
            if retest or test.due(hr.spec, stored[0]):
                async with self._invocation(hr, target, namespace, name) as inv:
                    await self._test(status, Step(hr, inv, target), after=retried)
            else:
                self._judge_tests(status, hr, stored, retried)
            drifted = await self._check_drift(hr, target, stored[0])
            if report.drifted(status, drifted, generation) and drifted is not None:
                self.event(hr, "Warning", report.DRIFT_DETECTED, drifted)
            report.in_sync(status, stored[0], generation)
            return Result(requeue_after=jittered(hr.spec.interval.seconds))
        if next_ is Next.STALLED:
            reason = INSTALL_FAILED if last.action == "install" else UPGRADE_FAILED
            ready = status.condition(conditions.READY)
            if ready is not None and ready.reason in (reason, test.FAILED):
                raise StalledError(ready.reason, ready.message)
            raise StalledError(
                reason,
                f"Helm {last.action or 'upgrade'} failed {last.failures} times for release "
                f"{namespace}/{name}; change the spec, chart or values to try again",
            )

        verb: Literal["install", "upgrade"] = "install" if next_ is Next.INSTALL else "upgrade"
        ref = f"{namespace}/{name}"
        report.attempting(status, found, wanted, verb, ref, fresh=not last.same_target(wanted))
        await self.checkpoint(status)
        failures = remediation.upcoming(status, verb)
        async with self._invocation(hr, target, namespace, name) as inv:
            step = Step(hr, inv, target)
            if next_ is Next.INSTALL:
                await self._remove_leftovers(step, stored, status.history)
                done = await self._install(step, desired, failures)
            else:
                done = await self._upgrade(step, desired, stored, failures)
            report.ended(
                status,
                done,
                generation,
                revision=found.revision,
                post_renderers=wanted.post_renderers_digest,
            )
            if done.error is not None:
                raise done.error
            self.event(
                hr,
                "Normal",
                done.reason,
                done.message,
                {"helm.toolkit.fluxcd.io/revision": found.revision},
            )
            await self._test(status, step, after=Performed(verb, stored))
        report.succeeded(status)
        return Result(requeue_after=jittered(hr.spec.interval.seconds))

    async def finalize(self, obj: JSON) -> None:
        try:
            hr = lifecycle.parse(api.HelmRelease, obj)
        except StalledError:
            return
        st = hr.status or api.HelmReleaseStatus()
        helm_chart = st.helm_chart or ""
        if hr.spec.chart is not None and "/" in helm_chart:
            ns, _, name = helm_chart.partition("/")
            await chart.delete(self.client, self.charts, ns, name)
        if hr.spec.suspend:
            await self.remotes.release(_owner(hr))
            return  # as in Flux: a suspended HelmRelease leaves its release in place
        name = st.history[0].name if st.history else hr.release_name()
        namespace = st.history[0].namespace if st.history else hr.release_namespace()
        owner = _owner(hr)
        try:
            # Uninstalled where it was released; a remote that does not answer keeps
            # the release, and the HelmRelease, until it does.
            try:
                target = await self._target(hr)
            except (remote.InvalidKubeConfig, remote.UnsupportedProvider):
                if st.history:
                    raise
                await self.remotes.release(owner)
                return  # never released anywhere: no cluster to clean up
            try:
                if await release.history(target.client, namespace, name):
                    async with self._invocation(hr, target, namespace, name) as inv:
                        await self._uninstall(Step(hr, inv, target))
            except ConnectionFailed as err:
                raise target.unreachable(err) from err
            await self.remotes.release(owner)
        except (ApiError, ReconcileError) as err:
            if not await lifecycle.namespace_terminating(self.client, hr.namespace):
                raise  # retried: the release stays until it can be uninstalled
            # The namespace goes, and with it the account's rights (its RoleBinding may
            # be gone already): waiting would hold the namespace forever. Say so.
            self.event(
                hr,
                "Warning",
                UNINSTALL_FAILED,
                f"release {namespace}/{name} left behind as the namespace is deleted: {err}",
            )
            await self.remotes.release(owner)

    # ---- inputs ------------------------------------------------------------------------

    def _check_access(self, hr: api.HelmRelease) -> None:
        """Under lockdown, the chart's source (or the chartRef) must be in the release's
        namespace: refused before any HelmChart is written anywhere."""
        if hr.spec.chart is not None:
            ref = hr.spec.chart.spec.source_ref
            self.lockdown.check_ref(hr.namespace, ref.kind, ref.namespace or "", ref.name)
        if hr.spec.chart_ref is not None:
            cref = hr.spec.chart_ref
            self.lockdown.check_ref(hr.namespace, cref.kind, cref.namespace or "", cref.name)

    async def _check_dependencies(self, hr: api.HelmRelease, status: api.HelmReleaseStatus) -> None:
        for dep in hr.spec.depends_on:
            ns = dep.namespace or hr.namespace
            ref = f"'{ns}/{dep.name}'"
            try:
                other = await self.client.get(self.resource.path(ns, dep.name))
            except ApiError as err:
                if not err.not_found:
                    raise
                raise ReconcileError(
                    conditions.DEPENDENCY_NOT_READY, f"dependency {ref} not found"
                ) from err
            # `self` of a readyExpr: the HelmRelease as the API server returns it.
            whole: JSON = {}
            if dep.ready_expr:
                whole = hr.model_dump(mode="json", by_alias=True, exclude_none=True)
                whole["status"] = typed_status.dump(status)
            await dependencies.require_ready(f"dependency {ref}", whole, other, dep.ready_expr)

    async def _helm_chart(self, hr: api.HelmRelease, previous: str | None) -> str | None:
        """'namespace/name' of the HelmChart made for the release (None with chartRef);
        one made for it elsewhere before (`previous`) is deleted."""
        if hr.spec.chart is None:
            return None
        namespace, name = chart.location(hr)
        if previous and previous != f"{namespace}/{name}" and "/" in previous:
            old_ns, _, old_name = previous.partition("/")
            await chart.delete(self.client, self.charts, old_ns, old_name)
        return f"{namespace}/{name}"

    async def _chart(self, hr: api.HelmRelease) -> chart.Chart:
        charts = self.charts
        if hr.spec.chart_ref is not None and hr.spec.chart_ref.kind != chart.KIND:
            charts = await self.mapper.resource(chart.API_VERSION, hr.spec.chart_ref.kind)
        namespace, name = chart.location(hr)
        try:
            return await chart.ensure(
                ResourceManager(self.client, self.mapper, chart.POLICY), charts, hr
            )
        except ApiError as err:
            raise ChartUnavailable(
                f"could not apply HelmChart '{namespace}/{name}': {err}"
            ) from err

    async def _values(self, hr: api.HelmRelease) -> dict[str, Any]:
        secrets: list[str] = []
        try:
            return await values.compose(self.client, hr.namespace, hr.spec, secrets)
        finally:
            # helm's errors and drift reports may quote values: none from a Secret.
            owner = redact.owner_key(KIND, hr.namespace, hr.name)
            redact.REDACTOR.remember(owner, secrets)

    async def _stored(
        self, hr: api.HelmRelease, target: remote.Target, namespace: str, name: str
    ) -> list[release.Revision]:
        """The release's revisions; one left pending by a helm action that is gone is
        removed first. Reconciles of one HelmRelease never overlap, but the helper may
        still run an action the engine gave up on: then the release waits for it."""
        acting = target.client
        try:
            stored = await release.history(acting, namespace, name)
        except ApiError as err:
            if not err.forbidden:
                raise
            # The release's account may not read there (another namespace, under
            # lockdown): retried, since RBAC may change; helm would be refused too.
            raise ReconcileError(
                GET_LAST_RELEASE_FAILED,
                f"could not read release {namespace}/{name} from Helm's storage: {err.message}",
            ) from err
        if stored and stored[0].status in release.PENDING:
            pending = stored[0]
            if self.helm.busy(hr.namespace, hr.name):
                raise runner.ReleaseBusy(
                    f"release {namespace}/{name} is {pending.status}: an earlier helm action "
                    "on it still runs"
                )
            await release.unlock(acting, pending)
            self.event(
                hr,
                "Warning",
                RELEASE_UNLOCKED,
                f"removed revision {pending.version} of release {namespace}/{name}, left "
                f"{pending.status} by an interrupted helm process",
            )
            stored = stored[1:]
        return stored

    # ---- actions -----------------------------------------------------------------------

    async def _install(self, step: Step, desired: Desired, failures: int) -> report.Ended:
        """helm install; on a failure (the `failures`th of this attempt), the remedy."""
        hr, inv = step.hr, step.inv
        async with self._prepared(desired, hr.spec) as given:
            try:
                await install.run(
                    inv,
                    hr.spec,
                    given.chart_dir,
                    given.values_file,
                    given.post_render,
                    desired.chart.digest,
                )
            except runner.HelperGone:
                raise  # not the release's failure: retried (ERRORS)
            except runner.HelmFailed as err:
                plan = remediation.after_install_failure(hr.spec, failures)
                message = f"Helm install failed for release {inv.ref}: {given.explain(err)}"
                error = await self._remedy(step, plan, _failure(INSTALL_FAILED, message, plan))
                stored = await self._history(step)
                return report.Ended("install", INSTALL_FAILED, message, stored, error)
        return await self._succeeded(step, desired, "install")

    async def _upgrade(
        self, step: Step, desired: Desired, before: list[release.Revision], failures: int
    ) -> report.Ended:
        """helm upgrade; on a failure (the `failures`th of this attempt), the remedy
        (`before`: the history before the upgrade, to roll back to)."""
        hr, inv = step.hr, step.inv
        async with self._prepared(desired, hr.spec) as given:
            try:
                await upgrade.run(
                    inv,
                    hr.spec,
                    given.chart_dir,
                    given.values_file,
                    given.post_render,
                    desired.chart.digest,
                )
            except runner.HelperGone:
                raise  # not the release's failure: retried (ERRORS)
            except runner.HelmFailed as err:
                plan = remediation.after_upgrade_failure(hr.spec, failures)
                message = f"Helm upgrade failed for release {inv.ref}: {given.explain(err)}"
                failed = _failure(UPGRADE_FAILED, message, plan)
                error = await self._remedy(step, plan, failed, before)
                stored = await self._history(step)
                return report.Ended("upgrade", UPGRADE_FAILED, message, stored, error)
        return await self._succeeded(step, desired, "upgrade")

    async def _remedy(
        self,
        step: Step,
        plan: remediation.Plan,
        failed: ReconcileError,
        before: list[release.Revision] | None = None,
    ) -> ReconcileError:
        """The remedy `plan` names for a failed action (`before`: the history before an
        upgrade, to roll back to); what follows: `failed`, or the remedy's own failure
        (an uninstall refused), which is retried."""
        try:
            if plan.remedy == "uninstall":
                await self._uninstall(step)
            elif plan.remedy == "rollback" and before is not None:
                await self._rollback(step, before)
        except ReconcileError as err:
            return err
        return failed

    async def _rollback(self, step: Step, before: list[release.Revision]) -> None:
        revision = rollback.target(before)
        if revision is None:
            return
        if step.hr.spec.rollback is not None and step.hr.spec.rollback.recreate:
            # As in helm-controller since Flux 2.8: helm v4 has no --recreate-pods. Flux
            # logs it; an event tells the owner of the HelmRelease, when it matters.
            self.event(step.hr, "Warning", DEPRECATED_FIELD, rollback.RECREATE_IGNORED)
        try:
            await rollback.run(step.inv, step.hr.spec, revision)
        except runner.HelperGone:
            raise  # not the release's failure: retried (ERRORS)
        except runner.HelmFailed as err:
            self.event(step.hr, "Warning", ROLLBACK_FAILED, f"Helm rollback failed: {err}")
            return
        self.event(
            step.hr,
            "Normal",
            ROLLBACK_SUCCEEDED,
            f"Helm rollback to revision {revision} succeeded for release {step.inv.ref}",
        )

    async def _uninstall(self, step: Step) -> None:
        try:
            await uninstall.run(step.inv, step.hr.spec)
        except runner.HelperGone:
            raise  # not the release's failure: retried (ERRORS)
        except runner.HelmFailed as err:
            message = f"Helm uninstall failed for release {step.inv.ref}: {err}"
            self.event(step.hr, "Warning", UNINSTALL_FAILED, message)
            raise ReconcileError(UNINSTALL_FAILED, message) from err
        self.event(
            step.hr,
            "Normal",
            UNINSTALL_SUCCEEDED,
            f"Helm uninstall succeeded for release {step.inv.ref}",
        )

    async def _remove_leftovers(
        self, step: Step, stored: list[release.Revision], seen: list[api.Snapshot]
    ) -> None:
        """Before an install: uninstall a failed first install of this release, and the
        release this HelmRelease made under another name or namespace (`seen`: the
        history in its status)."""
        if stored and stored[0].status != release.UNINSTALLED:
            await self._uninstall(step)
        if seen:
            old_name, old_ns = seen[0].name, seen[0].namespace
            inv = step.inv
            if old_name and old_ns and (old_name, old_ns) != (inv.release, inv.namespace):
                await self._uninstall(Step(step.hr, inv.elsewhere(old_name, old_ns), step.target))

    async def _test(
        self, status: api.HelmReleaseStatus, step: Step, after: Performed | None = None
    ) -> None:
        """Run helm test (when enabled); helm keeps the result in the release record.
        `after`: the action just done and the history before it, to remediate a failed
        test as a failure of that action."""
        hr = step.hr
        if not test.enabled(hr.spec):
            report.untested(status)
            return
        report.testing(status, step.inv.ref, hr.generation)
        await self.checkpoint(status)
        failure: runner.HelmFailed | None = None
        try:
            await test.run(step.inv, hr.spec)
        except runner.HelperGone:
            raise  # not the release's failure: retried (ERRORS)
        except runner.HelmFailed as err:
            failure = err
        stored = await self._history(step)
        report.tested(status, stored)
        result = test.outcome(
            stored[0] if stored else None,
            ran=True,
            failure=None if failure is None else str(failure),
        )
        assert result is not None  # a test that ran has an outcome
        if not result.passed and after is not None:
            await self._remediate_test(status, step, result, after)
        self._test_outcome(status, hr, result, announce=True)

    async def _remediate_test(
        self,
        status: api.HelmReleaseStatus,
        step: Step,
        result: test.Outcome,
        after: Performed,
    ) -> None:
        """A failed test counts as a failure of the install or upgrade before it (unless
        test failures are ignored): remediated and retried as remediation says."""
        hr, verb = step.hr, after.verb
        if remediation.ignores_test_failures(hr.spec, verb):
            return
        failures = remediation.upcoming(status, verb)
        if verb == "install":
            plan = remediation.after_install_failure(hr.spec, failures)
            # Retrying an install means installing again: the tested release goes first
            # (RetryOnFailure keeps it, and upgrades it when it retries).
            if not (plan.stalled or plan.retry_after):
                plan = remediation.Plan("uninstall", stalled=False)
        else:
            plan = remediation.after_upgrade_failure(hr.spec, failures)
        failed = _failure(result.reason, result.message, plan)
        error = await self._remedy(step, plan, failed, after.before)
        stored = await self._history(step)
        retried = not plan.stalled
        report.test_failed_action(status, verb, result, stored, hr.generation, retried=retried)
        if retried or error is not failed:
            raise error  # retried after the remedy (or the remedy, when it failed)

    def _judge_tests(
        self,
        status: api.HelmReleaseStatus,
        hr: api.HelmRelease,
        stored: list[release.Revision],
        retried: Performed | None,
    ) -> None:
        """The stored result of the deployed revision's last test, as a condition; a new
        verdict is announced (an engine restart, a release tested by hand). `retried`:
        the last action, when its strategy is RetryOnFailure: a failed test is then a
        failure of it, retried."""
        if not test.enabled(hr.spec):
            report.untested(status)
            return
        result = test.outcome(stored[0])
        if result is None:
            return
        said = status.condition(test.CONDITION)
        if said is not None and said.reason == result.reason:
            result = test.Outcome(result.passed, said.message)  # keep helm's own words
        if (
            not result.passed
            and retried is not None
            and not remediation.ignores_test_failures(hr.spec, retried.verb)
        ):
            verb = retried.verb
            failures = remediation.upcoming(status, verb)
            plan = (
                remediation.after_install_failure(hr.spec, failures)
                if verb == "install"
                else remediation.after_upgrade_failure(hr.spec, failures)
            )
            report.test_failed_action(status, verb, result, stored, hr.generation, retried=True)
            raise _failure(result.reason, result.message, plan)
        self._test_outcome(status, hr, result, announce=said is None)

    def _test_outcome(
        self,
        status: api.HelmReleaseStatus,
        hr: api.HelmRelease,
        result: test.Outcome,
        *,
        announce: bool,
    ) -> None:
        """TestSuccess, an event, and a failed test keeps the release not Ready (Stalled
        until the spec, chart or values change) unless `test.ignoreFailures`."""
        report.test_result(status, result, hr.generation)
        if result.passed:
            if announce:
                self.event(hr, "Normal", result.reason, result.message)
            return
        if test.ignores_failures(hr.spec):
            if announce:
                self.event(hr, "Warning", result.reason, result.message)
            return
        raise StalledError(result.reason, result.message)

    async def _check_drift(
        self, hr: api.HelmRelease, target: remote.Target, latest: release.Revision
    ) -> str | None:
        """Compare the deployed revision's objects with the cluster; put back (enabled)
        what differs, or say what it is (warn: the Drifted condition's message)."""
        detection = hr.spec.drift_detection
        mode = detection.effective_mode() if detection is not None else "disabled"
        gauge = metrics.DRIFTED.labels(KIND, hr.name, hr.namespace)
        if mode == "disabled" or detection is None:
            gauge.set(0)
            return None
        client = target.client
        described = latest.ref
        try:
            drifts = await drift.detect(
                client,
                target.mapper,
                latest.manifest,
                latest.name,
                latest.namespace,
                detection.ignore,
            )
            if drifts and mode == "enabled":
                await drift.correct(client, target.mapper, drifts)
        except drift.DriftError as err:
            raise ReconcileError(
                conditions.RECONCILIATION_FAILED,
                f"drift detection failed for release {described}: {err}",
            ) from err
        found = "; ".join(d.describe() for d in drifts)
        if not drifts or mode == "enabled":
            gauge.set(0)
            if drifts:
                metrics.DRIFT_CORRECTIONS.labels(KIND, hr.name, hr.namespace).inc(len(drifts))
                self.event(
                    hr,
                    "Normal",
                    DRIFT_CORRECTED,
                    f"Cluster state of release {described} was corrected: {found}",
                )
            return None
        gauge.set(len(drifts))
        return (
            f"Cluster state of release {described} has drifted from the desired state "
            f"(driftDetection.mode is warn, not corrected): {found}"
        )

    async def _succeeded(
        self, step: Step, desired: Desired, verb: Literal["install", "upgrade"]
    ) -> report.Ended:
        stored = await self._history(step)
        latest = stored[0] if stored else None
        described = latest.ref if latest else step.inv.ref
        found = desired.chart
        chart_name = f"{latest.chart_name}@{latest.chart_version}" if latest else found.revision
        message = f"Helm {verb} succeeded for release {described} with chart {chart_name}"
        reason = INSTALL_SUCCEEDED if verb == "install" else UPGRADE_SUCCEEDED
        return report.Ended(verb, reason, message, stored)

    # ---- helpers -----------------------------------------------------------------------

    async def _target(self, hr: api.HelmRelease) -> remote.Target:
        """Where the release lives — this cluster, or the remote of `spec.kubeConfig` —
        and the client of everything done for it there: as its service account (or the
        default one under lockdown), so RBAC decides, as it does for helm itself."""
        return await self.remotes.target(
            _owner(hr),
            hr.namespace,
            hr.spec.kube_config,
            hr.spec.service_account_name,
            self.lockdown,
        )

    async def _history(self, step: Step) -> list[release.Revision]:
        """The release's revisions as Helm stores them now, newest first."""
        return await release.history(step.target.client, step.inv.namespace, step.inv.release)

    @contextlib.asynccontextmanager
    async def _invocation(
        self, hr: api.HelmRelease, target: remote.Target, namespace: str, name: str
    ) -> AsyncIterator[Invocation]:
        as_user = self.lockdown.user(hr.namespace, hr.spec.service_account_name)
        # Read for each action: a token the engine's loader refreshes reaches the helper
        # (which keeps a client per kubeconfig and identity; an old one goes idle).
        document = await kubeconfig.document(target.config)
        # A remote API server is a tenant's: what the helper reads from it is bounded.
        bound = remote.MAX_RESPONSE if target.remote is not None else None
        owner = f"{hr.namespace}/{hr.name}"
        yield Invocation(name, namespace, document, self.helm, as_user, bound, owner)

    @contextlib.asynccontextmanager
    async def _prepared(self, desired: Desired, spec: api.HelmReleaseSpec) -> AsyncIterator[Inputs]:
        """The chart's directory (the artifact, unpacked once per digest), the values in
        a private file and the post-renderers, for the duration of the block."""
        async with self.trees.tree(desired.chart.artifact) as root:
            chart_dir = _chart_dir(root, desired.chart)
            scratch = Path(tempfile.mkdtemp(prefix="kidp-helm-values-"))
            values_file = scratch / "values.json"
            try:
                fd = os.open(values_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(desired.values, f)
                flags = postrender.prepare(self.home, scratch, spec)
                yield Inputs(chart_dir, values_file, flags, scratch)
            finally:
                # At once: the values may hold what valuesFrom read from Secrets.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(values_file)
                background.discard(scratch)


def _owner(hr: api.HelmRelease) -> str:
    """A HelmRelease's name among the users of remote clusters (Kustomizations too)."""
    return f"{KIND}/{hr.namespace}/{hr.name}"


def _retried(last: action.LastAttempt, stored: list[release.Revision]) -> Performed | None:
    """The last action as `Performed`, when its strategy is RetryOnFailure."""
    if not last.retrying:
        return None
    if last.action == "install":
        return Performed("install", stored)
    if last.action == "upgrade":
        return Performed("upgrade", stored)
    return None


def _failure(reason: str, message: str, plan: remediation.Plan) -> ReconcileError:
    """A failed action (or its test) as what follows it: Stalled when the remediation
    retries are spent; under RetryOnFailure the release stays failed, not Stalled, and
    the action is retried after `retryInterval` (jittered, as Flux requeues); otherwise
    retried with backoff after the remedy."""
    if plan.stalled:
        return StalledError(reason, message)
    if plan.retry_after is not None:
        after = meta.Duration.from_seconds(plan.retry_after)
        return RetryError(reason, f"{message}; retrying after {after}", jittered(plan.retry_after))
    return ReconcileError(reason, message)


def _chart_dir(root: Path, found: chart.Chart) -> Path:
    if (root / "Chart.yaml").is_file():
        return root
    candidates = sorted(p.parent for p in root.glob("*/Chart.yaml"))
    if len(candidates) != 1:
        raise NoSingleChart(f"the artifact of HelmChart '{found.ref}' holds no single chart")
    return candidates[0]


__all__ = ["HelmReleaseReconciler"]
