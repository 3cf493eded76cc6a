"""Which helm action comes next, from Helm's storage and the HelmRelease's status."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from kidp_gitops.helm import action, release, values
from kidp_gitops.helm.action import Next

CONFIG: dict[str, object] = {"replicaCount": 3}
WANTED = action.Wanted("sha256:chart", values.digest(CONFIG), 1)


def revision(version: int, status: str, config: dict[str, object] = CONFIG) -> release.Revision:
    return release.Revision(
        name="r",
        namespace="ns",
        version=version,
        status=status,
        chart_name="operators",
        chart_version="0.1.0",
        config_digest=values.digest(config),
        digest=f"sha256:rel{version}",
        first_deployed=None,
        last_deployed=None,
        deleted=None,
    )


def last(
    failures: int = 0, retries: int = 0, release_digest: str = "sha256:rel2", **kw: object
) -> action.LastAttempt:
    fields: dict[str, object] = {
        "chart_digest": WANTED.chart_digest,
        "config_digest": WANTED.config_digest,
        "generation": WANTED.generation,
        "release_digest": release_digest,
        "action": "upgrade",
        "failures": failures,
        "retries": retries,
    }
    fields.update(kw)
    return action.LastAttempt(**fields)  # type: ignore[arg-type]


def test_nothing_stored_installs() -> None:
    assert action.decide([], WANTED, last(chart_digest=None)) is Next.INSTALL


def test_uninstalled_with_history_kept_installs() -> None:
    stored = [revision(2, "uninstalled"), revision(1, "superseded")]
    assert action.decide(stored, WANTED, last()) is Next.INSTALL


def test_failed_first_install_installs_again() -> None:
    stored = [revision(1, "failed")]
    assert action.decide(stored, WANTED, last(chart_digest="sha256:old")) is Next.INSTALL


def test_failed_first_install_is_upgraded_under_retry_on_failure() -> None:
    """helm-controller retries a failed install by an upgrade, keeping the release."""
    stored = [revision(1, "failed")]
    retrying = last(failures=1, action="install", retrying=True, release_digest="sha256:rel1")
    assert action.decide(stored, WANTED, retrying) is Next.UPGRADE


def test_retry_on_failure_is_never_stalled() -> None:
    stored = [revision(3, "failed"), revision(2, "deployed")]
    assert action.decide(stored, WANTED, last(failures=1)) is Next.STALLED
    assert action.decide(stored, WANTED, last(failures=9, retrying=True)) is Next.UPGRADE


def test_deployed_as_we_left_it_does_nothing() -> None:
    stored = [revision(2, "deployed"), revision(1, "superseded")]
    assert action.decide(stored, WANTED, last()) is Next.NONE


def test_a_change_of_chart_or_values_upgrades() -> None:
    stored = [revision(2, "deployed")]
    assert action.decide(stored, WANTED, last(chart_digest="sha256:old")) is Next.UPGRADE
    assert action.decide(stored, WANTED, last(config_digest="sha256:old")) is Next.UPGRADE
    changed = [revision(2, "deployed", {"replicaCount": 1})]  # values changed by hand
    assert action.decide(changed, WANTED, last()) is Next.UPGRADE
    upgraded_by_hand = [revision(3, "deployed"), *stored]
    assert action.decide(upgraded_by_hand, WANTED, last()) is Next.UPGRADE


def test_a_change_of_post_renderers_upgrades() -> None:
    stored = [revision(2, "deployed"), revision(1, "superseded")]
    renderers = action.Wanted(WANTED.chart_digest, WANTED.config_digest, 2, "sha256:pr")
    assert action.decide(stored, renderers, last()) is Next.UPGRADE
    assert action.decide(stored, renderers, last(post_renderers_digest="sha256:pr")) is Next.NONE


def test_preserved_values_are_not_compared_with_what_helm_merged() -> None:
    merged = {"replicaCount": 3, "image": {"tag": "v1.1.0"}}  # the last release's kept
    stored = [revision(2, "deployed", merged), revision(1, "superseded")]
    assert action.decide(stored, WANTED, last()) is Next.UPGRADE
    preserving = action.Wanted(WANTED.chart_digest, WANTED.config_digest, 1, preserved_values=True)
    assert action.decide(stored, preserving, last()) is Next.NONE
    # New values of ours still upgrade.
    assert action.decide(stored, preserving, last(config_digest="sha256:old")) is Next.UPGRADE


def test_a_spec_change_alone_does_not_upgrade() -> None:
    # suspend/resume, interval, timeout, dependsOn: a new generation, the same release
    stored = [revision(2, "deployed"), revision(1, "superseded")]
    assert action.decide(stored, WANTED, last(generation=0)) is Next.NONE


def test_a_spec_change_after_exhausted_failures_tries_again() -> None:
    stored = [revision(3, "failed"), revision(2, "deployed")]
    assert action.decide(stored, WANTED, last(failures=3, retries=2)) is Next.STALLED
    assert action.decide(stored, WANTED, last(failures=3, retries=2, generation=0)) is Next.UPGRADE


def test_failed_attempt_retries_until_exhausted() -> None:
    stored = [revision(3, "failed"), revision(2, "deployed")]
    assert action.decide(stored, WANTED, last(failures=1, retries=2)) is Next.UPGRADE
    assert action.decide(stored, WANTED, last(failures=3, retries=2)) is Next.STALLED
    assert action.decide(stored, WANTED, last(failures=9, retries=-1)) is Next.UPGRADE
    # A new chart is a new attempt, whatever the old one's count.
    fresh = last(failures=3, retries=2, chart_digest="sha256:new")
    assert action.decide(stored, WANTED, fresh) is Next.UPGRADE


def test_release_secret_is_decoded() -> None:
    doc = {
        "name": "r",
        "namespace": "ns",
        "version": 2,
        "info": {"status": "deployed", "last_deployed": "2026-11-26T10:00:00.123456789Z"},
        "chart": {"metadata": {"name": "operators", "version": "0.1.0"}},
        "config": CONFIG,
    }
    payload = base64.b64encode(gzip.compress(json.dumps(doc).encode()))
    secret = {"data": {"release": base64.b64encode(payload).decode()}}
    rev = release._decode(secret)
    assert rev is not None
    assert (rev.name, rev.version, rev.status, rev.chart_version) == ("r", 2, "deployed", "0.1.0")
    assert rev.config_digest == WANTED.config_digest
    assert rev.last_deployed == "2026-11-26T10:00:00Z"
    assert rev.snapshot()["chartName"] == "operators"
    assert release._decode({"data": {"release": "not base64!"}}) is None


def test_a_release_record_that_expands_past_the_limit_is_not_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A tenant (or a remote cluster's server) may write a gzip bomb under helm's labels.
    monkeypatch.setattr(release, "MAX_RECORD", 1 << 20)
    bomb = gzip.compress(b'{"name": "' + b"a" * (4 << 20) + b'"}')
    assert len(bomb) < 10_000
    secret = {"data": {"release": base64.b64encode(base64.b64encode(bomb)).decode()}}
    assert release._decode(secret) is None
    for not_an_object in (b"[1, 2]", b'"text"'):
        listed = base64.b64encode(base64.b64encode(gzip.compress(not_an_object))).decode()
        assert release._decode({"data": {"release": listed}}) is None
