"""Which helm action a release needs next, decided from what is stored and what is wanted.

    decide(stored, wanted, last) -> Next

`stored` is the release's history as Helm keeps it (newest first), `wanted` the chart
artifact and values digest of this reconcile, `last` what the HelmRelease's status says
about the last attempt. The answer is one of:

    NONE       the release is deployed from this chart and these values, as we left it
    INSTALL    there is no release, or one uninstalled with its history kept, or only a
               failed first install (to be removed first; under RetryOnFailure it is
               upgraded instead, as helm-controller retries it)
    UPGRADE    anything else: new chart, new values, a failed or changed release
    STALLED    the same attempt already failed more often than remediation allows
               (never under RetryOnFailure, which retries without end)

As in Flux, only what changes the release makes it out of sync: the chart, the values
(with the resolved valuesFrom) and the post-renderers (their digest, kept in the status
by the last successful action, as Flux's observedPostRenderersDigest).
No install or upgrade option changes what the chart renders. With
`upgrade.preserveValues` the values helm stores are the last release's with ours merged
over them: then the values of this reconcile are compared with those of the last attempt
only (with the release record we left unchanged), so a release is not upgraded again
because of what helm merged in. The release name and
namespace choose which release is read, so changing them installs anew. Other spec
fields (suspend, interval, timeout, dependsOn, remediation, test) do not cause an
upgrade; the generation matters only for the failure counters: a new one starts the
retries afresh (a deployed release whose test failed is then tested again, not upgraded).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kidp_gitops.helm import release


class Next(enum.Enum):
    NONE = "none"
    INSTALL = "install"
    UPGRADE = "upgrade"
    STALLED = "stalled"


@dataclass(frozen=True)
class Wanted:
    chart_digest: str
    config_digest: str
    generation: int
    post_renderers_digest: str | None = None
    preserved_values: bool = False
    """upgrade.preserveValues: helm stores the last release's values with these merged
    over them, so the stored values are not compared with these."""


@dataclass(frozen=True)
class LastAttempt:
    """From status: the last attempt, and how often it has failed."""

    chart_digest: str | None
    config_digest: str | None
    generation: int | None
    release_digest: str | None
    """Digest of the newest revision after our last action (status.history[0])."""
    action: str | None
    failures: int
    retries: int
    """Allowed retries of the last action's kind (negative: without end)."""
    post_renderers_digest: str | None = None
    """Of the post-renderers the release was last made with (None: none)."""
    retrying: bool = False
    """The last action's strategy is RetryOnFailure: a failure is retried as it stands
    (no remediation, no end), by an upgrade."""

    def same_release(self, wanted: Wanted) -> bool:
        """The last attempt was for this chart and these values."""
        return (
            self.chart_digest == wanted.chart_digest and self.config_digest == wanted.config_digest
        )

    def same_target(self, wanted: Wanted) -> bool:
        """The same release, and no spec change since: failures still count."""
        return self.same_release(wanted) and self.generation == wanted.generation

    def exhausted(self) -> bool:
        return not self.retrying and 0 <= self.retries < self.failures


def decide(stored: list[release.Revision], wanted: Wanted, last: LastAttempt) -> Next:
    same = last.same_target(wanted)
    if same and last.failures > 0 and last.exhausted():
        return Next.STALLED
    if (
        not stored
        or stored[0].status == release.UNINSTALLED
        or (
            not last.retrying
            and all(r.status != release.DEPLOYED for r in stored)
            and _never_upgraded(stored)
        )
    ):
        return Next.INSTALL
    latest = stored[0]
    if (
        last.same_release(wanted)
        and (last.failures == 0 or last.generation != wanted.generation)
        and latest.status == release.DEPLOYED
        and (wanted.preserved_values or latest.config_digest == wanted.config_digest)
        and latest.digest == last.release_digest
        and last.post_renderers_digest == wanted.post_renderers_digest
    ):
        return Next.NONE
    return Next.UPGRADE


def _never_upgraded(stored: list[release.Revision]) -> bool:
    """Only a first install is stored (failed or interrupted): helm cannot upgrade it."""
    return len(stored) == 1 and stored[0].version == 1
