"""helm test: the chart's test hooks, after a successful install or upgrade, when
`spec.test.enable` is set; and what the stored release says of the last run.

    await run(inv, spec)                         raises runner.HelmFailed
    due(spec, latest) -> bool                    tests enabled, the revision never tested
    outcome(latest, ran, failure) -> Outcome     the TestSuccess condition to show

helm writes each test hook's last run (phase, start, end) into the release record, so
the result of a test is read back from Helm's storage on every reconcile, as Flux reads
it: it survives the reconcile that ran it and a restart of the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from kidp_gitops.api import helm as api
from kidp_gitops.helm import release
from kidp_gitops.helm.invocation import Invocation, timeout_of

CONDITION = "TestSuccess"
SUCCEEDED = "TestSucceeded"
FAILED = "TestFailed"


@dataclass(frozen=True)
class Outcome:
    passed: bool
    message: str

    @property
    def reason(self) -> str:
        return SUCCEEDED if self.passed else FAILED


async def run(inv: Invocation, spec: api.HelmReleaseSpec) -> None:
    opts = spec.test or api.Test()
    args: list[str] = []
    for f in opts.filters or []:
        args += ["--filter", f"{'!' if f.exclude else ''}name={f.name}"]
    await inv.helm("test", args, timeout_of(opts.timeout, spec))


def enabled(spec: api.HelmReleaseSpec) -> bool:
    return spec.test is not None and spec.test.enable


def ignores_failures(spec: api.HelmReleaseSpec) -> bool:
    return spec.test is not None and spec.test.ignore_failures


def due(spec: api.HelmReleaseSpec, latest: release.Revision) -> bool:
    """Tests are enabled and the revision has test hooks that never ran (tests were
    enabled after it was deployed): test it, no upgrade needed."""
    return enabled(spec) and bool(latest.tests) and not latest.tested


def outcome(
    latest: release.Revision | None, *, ran: bool = False, failure: str | None = None
) -> Outcome | None:
    """The result of the last test of `latest`; None when it was never tested. `ran`:
    helm test has just run (`failure`: its error, if it failed)."""
    name = latest.ref if latest is not None else "?"
    failed = latest.failed_tests() if latest is not None else []
    if failure is not None or failed:
        why = failure or f"test hook(s) {', '.join(failed)} failed"
        return Outcome(False, f"Helm test failed for release {name}: {why}")
    if latest is None or not (ran or latest.tested):
        return None
    count = len(latest.tests)
    return Outcome(True, f"Helm test succeeded for release {name}: {count} test hook(s) passed")
