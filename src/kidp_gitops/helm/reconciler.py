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
from kidp_gitops.helm import (
    action,
    chart,
    drift,
    install,
    kubeconfig,
    release,
    remediation,
    rollback,
    runner,
    test,
    uninstall,
    upgrade,
    values,
)
from kidp_gitops.helm.action import Next
from kidp_gitops.helm.invocation import Invocation
from kidp_gitops.kube.client import JSON, KubeClient
from kidp_gitops.kube.errors import ApiError
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
)
from kidp_gitops.runtime import status as typed_status
from kidp_gitops.runtime.context import Context
from kidp_gitops.runtime.lifecycle import TypedReconciler
from kidp_gitops.runtime.reconcile import ReconcileError, Result, StalledError
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
RELEASED = "Released"
DRIFTED = "Drifted"
DRIFT_DETECTED = "DriftDetected"
DRIFT_CORRECTED = "DriftCorrected"
INIT_FAILED = "InitFailed"
RELEASE_UNLOCKED = "ReleaseUnlocked"
GET_LAST_RELEASE_FAILED = "GetLastReleaseFailed"
MAX_HISTORY_IN_STATUS = 5
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
)


@dataclass(frozen=True)
class Desired:
    """What this attempt releases: the chart's artifact and the composed values."""

    chart: chart.Chart
    values: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """What every helm step of an attempt acts on: the HelmRelease and its release."""

    hr: api.HelmRelease
    inv: Invocation


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
        self.trees = ArtifactTrees(workdir / "charts", store, outbound.current())
        self.home = workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)

    # ---- the story ---------------------------------------------------------------------

    async def run(self, obj: api.HelmRelease, status: api.HelmReleaseStatus) -> Result:
        hr, generation = obj, obj.generation
        _check_storage(hr)
        self._check_access(hr)
        await self._check_dependencies(hr, status)
        found = await self._chart(hr, status)
        composed = await self._values(hr)
        desired = Desired(found, composed)
        wanted = action.Wanted(found.digest, values.digest(composed), generation)
        name, namespace = hr.release_name(), hr.release_namespace()
        stored = await self._stored(hr, namespace, name)
        status.storage_namespace = namespace
        last = remediation.last_attempt(hr.spec, status)
        next_ = action.decide(stored, wanted, last)

        if next_ is Next.NONE:
            status.history = _history(stored)
            # After failures, a new generation is a new attempt: its test runs again.
            retest = last.failures > 0 and test.enabled(hr.spec)
            if last.failures > 0:
                remediation.clear(status)
                status.last_attempted_generation = generation
            if retest or test.due(hr.spec, stored[0]):
                async with self._invocation(hr, namespace, name) as inv:
                    await self._test(status, Step(hr, inv))
            else:
                self._judge_tests(status, hr, stored[0])
            await self._check_drift(status, hr, stored[0])
            self._in_sync(status, stored[0], generation)
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

        if not last.same_target(wanted):
            remediation.clear(status)
        verb: Literal["install", "upgrade"] = "install" if next_ is Next.INSTALL else "upgrade"
        status.last_attempted_revision = found.revision
        status.last_attempted_revision_digest = found.digest
        status.last_attempted_config_digest = wanted.config_digest
        status.last_attempted_values_checksum = wanted.config_digest.removeprefix("sha256:")
        status.last_attempted_generation = generation
        status.last_attempted_release_action = verb
        conditions.mark_reconciling(
            status,
            conditions.PROGRESSING,
            f"Running helm {verb} for release {namespace}/{name} "
            f"with chart revision {found.revision}",
            generation,
        )
        await self.checkpoint(status)
        async with self._invocation(hr, namespace, name) as inv:
            step = Step(hr, inv)
            if next_ is Next.INSTALL:
                await self._remove_leftovers(status, step, stored)
                await self._install(status, step, desired)
            else:
                await self._upgrade(status, step, desired, stored)
            await self._test(status, step, after=Performed(verb, stored))
        remediation.clear(status)  # released, and tested when asked: a success
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
            return  # as in Flux: a suspended HelmRelease leaves its release in place
        name = st.history[0].name if st.history else hr.release_name()
        namespace = st.history[0].namespace if st.history else hr.release_namespace()
        try:
            if not await release.history(self._acting(hr), namespace, name):
                return
            async with self._invocation(hr, namespace, name) as inv:
                await self._uninstall(Step(hr, inv))
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

    async def _chart(self, hr: api.HelmRelease, status: api.HelmReleaseStatus) -> chart.Chart:
        charts = self.charts
        if hr.spec.chart_ref is not None and hr.spec.chart_ref.kind != chart.KIND:
            charts = await self.mapper.resource(chart.API_VERSION, hr.spec.chart_ref.kind)
        namespace, name = chart.location(hr)
        previous = status.helm_chart or ""
        if hr.spec.chart is not None:
            if previous and previous != f"{namespace}/{name}" and "/" in previous:
                old_ns, _, old_name = previous.partition("/")
                await chart.delete(self.client, self.charts, old_ns, old_name)
            status.helm_chart = f"{namespace}/{name}"
        else:
            status.helm_chart = None
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
        self, hr: api.HelmRelease, namespace: str, name: str
    ) -> list[release.Revision]:
        """The release's revisions; one left pending by a helm process that is gone is
        removed first. Reconciles of one HelmRelease never overlap, so a pending
        revision seen here is not ours in progress."""
        acting = self._acting(hr)
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

    async def _install(self, status: api.HelmReleaseStatus, step: Step, desired: Desired) -> None:
        hr, inv = step.hr, step.inv
        async with self._chart_and_values(desired) as (chart_dir, values_file):
            try:
                await install.run(inv, hr.spec, chart_dir, values_file)
            except runner.HelmFailed as err:
                plan = remediation.after_install_failure(
                    hr.spec, remediation.failed(status, "install")
                )
                if plan.remedy == "uninstall":
                    await self._uninstall(step)
                await self._record_history(status, step)
                message = f"Helm install failed for release {inv.ref}: {err}"
                _released(status, "False", INSTALL_FAILED, message, hr)
                if plan.stalled:
                    raise StalledError(INSTALL_FAILED, message) from err
                raise ReconcileError(INSTALL_FAILED, message) from err
        await self._succeeded(status, step, desired, INSTALL_SUCCEEDED, "install")

    async def _upgrade(
        self,
        status: api.HelmReleaseStatus,
        step: Step,
        desired: Desired,
        before: list[release.Revision],
    ) -> None:
        hr, inv = step.hr, step.inv
        async with self._chart_and_values(desired) as (chart_dir, values_file):
            try:
                await upgrade.run(inv, hr.spec, chart_dir, values_file)
            except runner.HelmFailed as err:
                plan = remediation.after_upgrade_failure(
                    hr.spec, remediation.failed(status, "upgrade")
                )
                if plan.remedy == "uninstall":
                    await self._uninstall(step)
                elif plan.remedy == "rollback":
                    await self._rollback(step, before)
                await self._record_history(status, step)
                message = f"Helm upgrade failed for release {inv.ref}: {err}"
                _released(status, "False", UPGRADE_FAILED, message, hr)
                if plan.stalled:
                    raise StalledError(UPGRADE_FAILED, message) from err
                raise ReconcileError(UPGRADE_FAILED, message) from err
        await self._succeeded(status, step, desired, UPGRADE_SUCCEEDED, "upgrade")

    async def _rollback(self, step: Step, before: list[release.Revision]) -> None:
        revision = rollback.target(before)
        if revision is None:
            return
        try:
            await rollback.run(step.inv, step.hr.spec, revision)
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
        self, status: api.HelmReleaseStatus, step: Step, stored: list[release.Revision]
    ) -> None:
        """Before an install: uninstall a failed first install of this release, and the
        release this HelmRelease made under another name or namespace."""
        if stored and stored[0].status != release.UNINSTALLED:
            await self._uninstall(step)
        if status.history:
            old_name, old_ns = status.history[0].name, status.history[0].namespace
            inv = step.inv
            if old_name and old_ns and (old_name, old_ns) != (inv.release, inv.namespace):
                await self._uninstall(Step(step.hr, inv.elsewhere(old_name, old_ns)))

    async def _test(
        self, status: api.HelmReleaseStatus, step: Step, after: Performed | None = None
    ) -> None:
        """Run helm test (when enabled); helm keeps the result in the release record.
        `after`: the action just done and the history before it, to remediate a failed
        test as a failure of that action."""
        hr = step.hr
        if not test.enabled(hr.spec):
            conditions.remove(status, test.CONDITION)
            return
        conditions.set_condition(
            status,
            conditions.RECONCILING,
            "True",
            conditions.PROGRESSING,
            f"Running helm test for release {step.inv.ref}",
            hr.generation,
        )
        await self.checkpoint(status)
        failure: runner.HelmFailed | None = None
        try:
            await test.run(step.inv, hr.spec)
        except runner.HelmFailed as err:
            failure = err
        stored = await self._record_history(status, step)
        conditions.remove(status, conditions.RECONCILING)
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
        failures = remediation.failed(status, verb)
        if verb == "install":
            plan = remediation.after_install_failure(hr.spec, failures)
            # Retrying an install means installing again: the tested release goes first.
            if plan.remedy == "uninstall" or not plan.stalled:
                await self._uninstall(step)
        else:
            plan = remediation.after_upgrade_failure(hr.spec, failures)
            if plan.remedy == "uninstall":
                await self._uninstall(step)
            elif plan.remedy == "rollback":
                await self._rollback(step, after.before)
        await self._record_history(status, step)
        released = INSTALL_FAILED if verb == "install" else UPGRADE_FAILED
        _released(status, "False", released, result.message, hr)
        if not plan.stalled:
            conditions.set_condition(
                status, test.CONDITION, "False", result.reason, result.message, hr.generation
            )
            raise ReconcileError(result.reason, result.message)  # retried after the remedy

    def _judge_tests(
        self, status: api.HelmReleaseStatus, hr: api.HelmRelease, latest: release.Revision
    ) -> None:
        """The stored result of the deployed revision's last test, as a condition; a new
        verdict is announced (an engine restart, a release tested by hand)."""
        if not test.enabled(hr.spec):
            conditions.remove(status, test.CONDITION)
            return
        result = test.outcome(latest)
        if result is None:
            return
        said = status.condition(test.CONDITION)
        if said is not None and said.reason == result.reason:
            result = test.Outcome(result.passed, said.message)  # keep helm's own words
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
        value: conditions.ConditionStatus = "True" if result.passed else "False"
        conditions.set_condition(
            status, test.CONDITION, value, result.reason, result.message, hr.generation
        )
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
        self, status: api.HelmReleaseStatus, hr: api.HelmRelease, latest: release.Revision
    ) -> None:
        """Compare the deployed revision's objects with the cluster; report (warn) or
        put back (enabled) what differs."""
        detection = hr.spec.drift_detection
        mode = detection.effective_mode() if detection is not None else "disabled"
        gauge = metrics.DRIFTED.labels(KIND, hr.name, hr.namespace)
        if mode == "disabled" or detection is None:
            conditions.remove(status, DRIFTED)
            gauge.set(0)
            return
        client = self._acting(hr)
        described = latest.ref
        try:
            drifts = await drift.detect(
                client,
                self.mapper,
                latest.manifest,
                latest.name,
                latest.namespace,
                detection.ignore,
            )
            if drifts and mode == "enabled":
                await drift.correct(client, self.mapper, drifts)
        except drift.DriftError as err:
            raise ReconcileError(
                conditions.RECONCILIATION_FAILED,
                f"drift detection failed for release {described}: {err}",
            ) from err
        found = "; ".join(d.describe() for d in drifts)
        if not drifts:
            conditions.remove(status, DRIFTED)
            gauge.set(0)
        elif mode == "enabled":
            conditions.remove(status, DRIFTED)
            gauge.set(0)
            metrics.DRIFT_CORRECTIONS.labels(KIND, hr.name, hr.namespace).inc(len(drifts))
            self.event(
                hr,
                "Normal",
                DRIFT_CORRECTED,
                f"Cluster state of release {described} was corrected: {found}",
            )
        else:
            message = (
                f"Cluster state of release {described} has drifted from the desired state "
                f"(driftDetection.mode is warn, not corrected): {found}"
            )
            said = status.condition(DRIFTED)
            conditions.set_condition(
                status, DRIFTED, "True", DRIFT_DETECTED, message, hr.generation
            )
            gauge.set(len(drifts))
            if said is None or said.message != message:
                self.event(hr, "Warning", DRIFT_DETECTED, message)

    def _in_sync(
        self, status: api.HelmReleaseStatus, latest: release.Revision, generation: int
    ) -> None:
        """Ready for this generation, in the words of the last successful action (the
        Released condition), as Flux keeps them."""
        released = status.condition(RELEASED)
        if released is not None and released.status == "True":
            conditions.mark_ready(status, released.reason, released.message, generation)
        else:
            conditions.mark_ready(
                status,
                conditions.RECONCILIATION_SUCCEEDED,
                f"Helm release {latest.ref} is up to date",
                generation,
            )

    async def _succeeded(
        self,
        status: api.HelmReleaseStatus,
        step: Step,
        desired: Desired,
        reason: str,
        verb: str,
    ) -> None:
        hr, found = step.hr, desired.chart
        stored = await self._record_history(status, step)
        latest = stored[0] if stored else None
        described = latest.ref if latest else step.inv.ref
        chart_name = f"{latest.chart_name}@{latest.chart_version}" if latest else found.revision
        message = f"Helm {verb} succeeded for release {described} with chart {chart_name}"
        status.last_applied_revision = found.revision
        if latest is not None:
            status.last_release_revision = latest.version
        _released(status, "True", reason, message, hr)
        conditions.mark_ready(status, reason, message, hr.generation)
        self.event(
            hr, "Normal", reason, message, {"helm.toolkit.fluxcd.io/revision": found.revision}
        )

    # ---- helpers -----------------------------------------------------------------------

    def _acting(self, hr: api.HelmRelease) -> KubeClient:
        """The client of everything done for the release: as its service account (or
        the default one under lockdown), so RBAC decides, as it does for helm itself."""
        return self.lockdown.client(self.client, hr.namespace, hr.spec.service_account_name)

    async def _record_history(
        self, status: api.HelmReleaseStatus, step: Step
    ) -> list[release.Revision]:
        stored = await release.history(self._acting(step.hr), step.inv.namespace, step.inv.release)
        status.history = _history(stored)
        return stored

    @contextlib.asynccontextmanager
    async def _invocation(
        self, hr: api.HelmRelease, namespace: str, name: str
    ) -> AsyncIterator[Invocation]:
        as_user = self.lockdown.user(hr.namespace, hr.spec.service_account_name)
        async with kubeconfig.written(self.client.config) as path:
            yield Invocation(name, namespace, path, self.home, as_user)

    @contextlib.asynccontextmanager
    async def _chart_and_values(self, desired: Desired) -> AsyncIterator[tuple[Path, Path]]:
        """The chart's directory (the artifact, unpacked once per digest) and the values
        in a private file, both for the duration of the block."""
        async with self.trees.tree(desired.chart.artifact) as root:
            chart_dir = _chart_dir(root, desired.chart)
            scratch = Path(tempfile.mkdtemp(prefix="kidp-helm-values-"))
            try:
                values_file = scratch / "values.json"
                fd = os.open(values_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(desired.values, f)
                yield chart_dir, values_file
            finally:
                # At once: the values may hold what valuesFrom read from Secrets.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(values_file)
                try:
                    os.rmdir(scratch)
                except OSError:  # something else was written there
                    background.discard(scratch)


def _history(stored: list[release.Revision]) -> list[api.Snapshot]:
    """The newest revisions as `status.history`."""
    return [api.Snapshot.model_validate(r.snapshot()) for r in stored[:MAX_HISTORY_IN_STATUS]]


def _check_storage(hr: api.HelmRelease) -> None:
    storage = hr.spec.storage_namespace
    if storage and storage != hr.release_namespace():
        raise StalledError(
            INIT_FAILED,
            f"storageNamespace '{storage}' differs from the release namespace "
            f"'{hr.release_namespace()}': kidp runs the helm program, which stores a "
            "release in the namespace it installs to",
        )


def _released(
    status: api.HelmReleaseStatus,
    value: conditions.ConditionStatus,
    reason: str,
    message: str,
    hr: api.HelmRelease,
) -> None:
    """Flux's Released condition: the outcome of the last install or upgrade."""
    conditions.set_condition(status, RELEASED, value, reason, message, hr.generation)


def _chart_dir(root: Path, found: chart.Chart) -> Path:
    if (root / "Chart.yaml").is_file():
        return root
    candidates = sorted(p.parent for p in root.glob("*/Chart.yaml"))
    if len(candidates) != 1:
        raise NoSingleChart(f"the artifact of HelmChart '{found.ref}' holds no single chart")
    return candidates[0]


__all__ = ["HelmReleaseReconciler"]
