"""What a stored release says about its test hooks, and the release name Flux would use."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from kidp_gitops.api import helm as api
from kidp_gitops.helm import release, test


def stored(hooks: list[dict[str, Any]]) -> release.Revision:
    doc = {
        "name": "r",
        "namespace": "ns",
        "version": 1,
        "info": {"status": "deployed", "last_deployed": "2026-11-26T10:00:00Z"},
        "chart": {"metadata": {"name": "operators", "version": "0.1.0"}},
        "config": {},
        "hooks": hooks,
    }
    payload = base64.b64encode(gzip.compress(json.dumps(doc).encode()))
    rev = release._decode({"data": {"release": base64.b64encode(payload).decode()}})
    assert rev is not None
    return rev


def hook(name: str, events: list[str], run: dict[str, str] | None = None) -> dict[str, Any]:
    return {"name": name, "kind": "Job", "events": events, "last_run": run or {"phase": ""}}


def test_test_hooks_that_never_ran() -> None:
    rev = stored([hook("smoke", ["test"]), hook("migrate", ["pre-install"])])
    assert [h.name for h in rev.tests] == ["smoke"]  # only test hooks
    assert not rev.tested
    assert rev.failed_tests() == []
    assert "testHooks" not in rev.snapshot()


def test_test_hooks_after_a_run() -> None:
    passed = {
        "started_at": "2026-11-26T10:01:00.5Z",
        "completed_at": "2026-11-26T10:01:02.25Z",
        "phase": "Succeeded",
    }
    failed = {"started_at": "2026-11-26T10:01:00Z", "phase": "Failed"}
    rev = stored([hook("smoke", ["test"], passed), hook("doomed", ["test"], failed)])
    assert rev.tested
    assert rev.failed_tests() == ["doomed"]
    assert rev.snapshot()["testHooks"] == {
        "doomed": {"lastStarted": "2026-11-26T10:01:00Z", "phase": "Failed"},
        "smoke": {
            "lastStarted": "2026-11-26T10:01:00Z",
            "lastCompleted": "2026-11-26T10:01:02Z",
            "phase": "Succeeded",
        },
    }
    # The snapshot is a valid status.history entry.
    api.Snapshot.model_validate(rev.snapshot())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app", "app"),
        ("a" * 53, "a" * 53),
        # Flux's own examples (fluxcd/helm-controller internal/release name_test.go).
        (
            "release-name-with-very-long-name-which-is-longer-than-53-characters",
            "release-name-with-very-long-name-which-i-788ca0d0d7b0",
        ),
        (
            "another-release-name-with-very-long-name-which-is-longer-than-53-characters",
            "another-release-name-with-very-long-name-7e72150d5a36",
        ),
    ],
)
def test_shorten_release_name(name: str, expected: str) -> None:
    assert api.shorten_release_name(name) == expected
    assert len(api.shorten_release_name(name)) <= 53


def _release(**spec: Any) -> api.HelmRelease:
    return api.HelmRelease.model_validate(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {
                "name": "a-helm-release-with-a-rather-long-name-for-tests",
                "namespace": "ns",
            },
            "spec": {"chartRef": {"kind": "HelmChart", "name": "c"}, **spec},
        }
    )


def test_release_name_is_shortened_when_composed() -> None:
    plain = _release()
    assert plain.release_name() == plain.name  # 48 characters: as is
    targeted = _release(targetNamespace="production-environment")
    composed = f"production-environment-{plain.name}"
    assert targeted.release_name() == api.shorten_release_name(composed)
    assert targeted.release_name().startswith(composed[:40] + "-")
    assert len(targeted.release_name()) == 53
    # An explicit releaseName is used as written (the API allows at most 53).
    assert _release(releaseName="explicit").release_name() == "explicit"


def test_outcome_of_the_last_test() -> None:
    never = stored([hook("smoke", ["test"])])
    assert test.outcome(never) is None
    assert test.outcome(never, ran=True, failure=None) is not None
    spec = api.HelmReleaseSpec.model_validate(
        {"chartRef": {"kind": "HelmChart", "name": "c"}, "test": {"enable": True}}
    )
    assert test.due(spec, never)
    ran = {"started_at": "2026-11-26T10:01:00Z", "phase": "Failed"}
    failed = stored([hook("smoke", ["test"], ran)])
    assert not test.due(spec, failed)
    verdict = test.outcome(failed)
    assert verdict is not None
    assert (verdict.passed, verdict.reason) == (False, "TestFailed")
    assert verdict.message == "Helm test failed for release ns/r.v1: test hook(s) smoke failed"
    helm_said = test.outcome(failed, ran=True, failure="job smoke failed")
    assert helm_said is not None
    assert helm_said.message.endswith(": job smoke failed")


def test_a_test_run_cut_short_is_not_a_result() -> None:
    running = {"started_at": "2026-11-26T10:01:00Z", "phase": "Running"}
    rev = stored([hook("smoke", ["test"], running)])
    assert not rev.tested  # tested again, not read as passed
    assert test.outcome(rev) is None
    assert rev.snapshot()["testHooks"] == {
        "smoke": {"lastStarted": "2026-11-26T10:01:00Z", "phase": "Running"}
    }
