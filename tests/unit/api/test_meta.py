from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from kidp_gitops.api import meta, resources


class _Timed(meta.SpecModel):
    interval: meta.Duration
    timeout: meta.TimeoutDuration | None = None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("1m", 60.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("2h0m0s", 7200.0),
        ("0s", 0.0),
    ],
)
def test_duration_seconds(text: str, seconds: float) -> None:
    assert meta.Duration(text).seconds == seconds
    assert _Timed.model_validate({"interval": text}).interval.seconds == seconds


@pytest.mark.parametrize("text", ["5 minutes", "", "5", "1d", "-1m", "1M", "m", "1h 30m"])
def test_duration_rejects_what_flux_rejects(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Timed.model_validate({"interval": text})
    (error,) = caught.value.errors()
    assert error["loc"] == ("interval",)
    assert "is not a duration" in error["msg"]
    with pytest.raises(ValueError, match="is not a duration"):
        meta.Duration(text)


def test_duration_is_a_string_and_round_trips() -> None:
    timed = _Timed.model_validate({"interval": "1h30m"})
    assert timed.interval == "1h30m"
    assert isinstance(timed.interval, str)
    assert timed.model_dump(mode="json", by_alias=True, exclude_none=True) == {"interval": "1h30m"}


def test_duration_must_be_a_string() -> None:
    with pytest.raises(ValidationError, match="valid string"):
        _Timed.model_validate({"interval": 300})


def test_timeout_durations_stop_at_minutes() -> None:
    assert _Timed.model_validate({"interval": "1m", "timeout": "90m"}).timeout == "90m"
    with pytest.raises(ValidationError, match="ms, s or m"):
        _Timed.model_validate({"interval": "1m", "timeout": "1h"})


@pytest.mark.parametrize(
    ("seconds", "text"), [(90, "1m30s"), (0.5, "500ms"), (3600, "1h"), (0, "0s"), (270, "4m30s")]
)
def test_duration_from_seconds(seconds: float, text: str) -> None:
    assert meta.Duration.from_seconds(seconds) == text
    assert meta.Duration.from_seconds(seconds).seconds == seconds


def test_duration_json_schema_carries_flux_pattern() -> None:
    interval = _Timed.model_json_schema()["properties"]["interval"]
    assert interval["type"] == "string"
    assert interval["pattern"] == r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"


def test_camel_names() -> None:
    assert meta.camel("secret_ref") == "secretRef"
    assert meta.camel("last_handled_reconcile_at") == "lastHandledReconcileAt"
    assert meta.camel("from_") == "from"
    assert meta.camel("skip_crds") == "skipCRDs"
    assert meta.camel("disable_open_api_validation") == "disableOpenAPIValidation"


def test_specs_accept_both_spellings_and_reject_unknown_fields() -> None:
    ref = meta.NamespacedObjectKindReference.model_validate(
        {"apiVersion": "v1", "kind": "X", "name": "n"}
    )
    assert ref.api_version == "v1"
    by_name = meta.NamespacedObjectKindReference(api_version="v1", kind="X", name="n")
    assert by_name == ref
    with pytest.raises(ValidationError, match="Extra inputs"):
        meta.LocalObjectReference.model_validate({"name": "n", "nmae": "typo"})


def test_specs_are_strict() -> None:
    class Flag(meta.SpecModel):
        enabled: bool
        count: int = 0

    with pytest.raises(ValidationError):
        Flag.model_validate({"enabled": "yes"})
    with pytest.raises(ValidationError):
        Flag.model_validate({"enabled": True, "count": "3"})


def test_status_is_tolerant() -> None:
    status = meta.ObjectStatus.model_validate(
        {
            "observedGeneration": "3",
            "conditions": [_condition("Ready", "True")],
            "history": [{"written": "by a newer controller"}],
        }
    )
    assert status.observed_generation == 3
    assert status.ready
    assert status.model_extra == {"history": [{"written": "by a newer controller"}]}
    assert status.condition("Stalled") is None


def test_not_ready_without_ready_condition() -> None:
    assert not meta.ObjectStatus().ready
    assert not meta.ObjectStatus.model_validate(
        {"conditions": [_condition("Ready", "False")]}
    ).ready


def test_object_meta_keeps_what_it_does_not_model() -> None:
    metadata = meta.ObjectMeta.model_validate(
        {
            "name": "a",
            "namespace": "b",
            "labels": {"x": "y"},
            "annotations": {"flux.weave.works/ignore": "true"},
            "generation": 4,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
        }
    )
    assert metadata.generation == 4
    assert metadata.annotations["flux.weave.works/ignore"] == "true"
    assert metadata.model_extra == {"managedFields": [{"manager": "kubectl"}]}


def test_artifact_fields() -> None:
    artifact = meta.Artifact.model_validate(
        {
            "path": "gitrepository/ns/name/sha.tar.gz",
            "url": "http://source-controller/gitrepository/ns/name/sha.tar.gz",
            "revision": "main@sha1:abc",
            "digest": "sha256:0123",
            "lastUpdateTime": "2024-05-01T10:00:00Z",
            "size": 1024,
            "metadata": {"org.opencontainers.image.revision": "abc"},
        }
    )
    assert artifact.size == 1024
    assert artifact.last_update_time.year == 2024


def test_resource_info() -> None:
    info = resources.ResourceInfo(
        group="g.io", kind="Thing", plural="things", versions=("v2", "v1"), storage_version="v2"
    )
    assert info.crd_name == "things.g.io"
    assert info.singular == "thing"
    assert info.api_version() == "g.io/v2"
    assert info.serves("g.io/v1")
    assert not info.serves("g.io/v3")
    assert not info.serves("other.io/v1")


def test_defaulted_marks_the_schema() -> None:
    class WithDefault(BaseModel):
        mode: str = meta.defaulted("HEAD")

    assert WithDefault().mode == "HEAD"
    schema: dict[str, Any] = WithDefault.model_json_schema()
    assert schema["properties"]["mode"][meta.CRD_DEFAULT_KEY] == "HEAD"


def _condition(type_: str, status: str) -> dict[str, str]:
    return {
        "type": type_,
        "status": status,
        "reason": "Succeeded",
        "message": "",
        "lastTransitionTime": "2024-05-01T10:00:00Z",
    }
