"""Every refused field, set on an object of its kind, stalls it through the lifecycle
(reason UnsupportedField, a Warning event, the message naming the field) and is an error
of `kidp validate`; a value that asks for what kidp does anyway is accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kidp_gitops.api import kinds
from kidp_gitops.api.refused import FIELDS, UNSUPPORTED_FIELD, Refused, refused_fields
from kidp_gitops.runtime import conditions
from kidp_gitops.runtime.lifecycle import FINALIZER
from kidp_gitops.runtime.reconcile import Request, StalledError
from kidp_gitops.validate import flux
from kidp_gitops.validate.documents import load_file
from tests.unit.runtime.test_typed import FakeClient, FakeEvents, Policy

RULES = [(kind, rule) for kind, rules in FIELDS.items() for rule in rules]
MODELS = {model.RESOURCE.kind: model for model in kinds.ALL_KINDS}


def _refused_value(rule: Refused) -> Any:
    """A value the rule refuses: the opposite of an allowed bool, else any other value."""
    if rule.allowed and isinstance(rule.allowed[0], bool):
        return not rule.allowed[0]
    return "something-kidp-does-not-do"


def _with(path: str, value: Any) -> dict[str, Any]:
    """{"spec": {"valuesFrom": [{"literal": value}]}} for `spec.valuesFrom[].literal`."""
    node: Any = value
    for part in reversed(path.split(".")):
        node = {part[:-2]: [node]} if part.endswith("[]") else {part: node}
    return node  # type: ignore[no-any-return]


def _concrete(path: str) -> str:
    return path.replace("[]", "[0]")


def _object(kind: str, rule: Refused, value: Any) -> dict[str, Any]:
    return {
        "apiVersion": MODELS[kind].RESOURCE.api_version(),
        "kind": kind,
        "metadata": {
            "name": "refused",
            "namespace": "apps",
            "generation": 1,
            "finalizers": [FINALIZER],
        },
        **_with(rule.path, value),
    }


def _id(case: tuple[str, Refused]) -> str:
    return f"{case[0]}:{case[1].path}"


@pytest.mark.parametrize("case", RULES, ids=_id)
async def test_a_refused_field_stalls_the_object_naming_it(case: tuple[str, Refused]) -> None:
    kind, rule = case
    client, events = FakeClient(_object(kind, rule, _refused_value(rule))), FakeEvents()
    reconciler = type("Any", (Policy,), {"kind": kind})(client, events)
    with pytest.raises(StalledError):
        await reconciler.reconcile(Request("apps", "refused"))
    stalled = conditions.get(client.obj["status"], "Stalled")
    assert stalled is not None
    assert stalled["reason"] == UNSUPPORTED_FIELD
    assert stalled["message"].startswith(f"{_concrete(rule.path)} is set, but kidp-gitops")
    assert (kind, "Warning", UNSUPPORTED_FIELD) in events.recorded


@pytest.mark.parametrize("case", RULES, ids=_id)
def test_kidp_validate_reports_a_refused_field(case: tuple[str, Refused], tmp_path: Path) -> None:
    kind, rule = case
    (tmp_path / "object.yaml").write_text(yaml.safe_dump(_object(kind, rule, _refused_value(rule))))
    documents, problems = load_file(tmp_path / "object.yaml", tmp_path)
    assert not problems
    messages = [f.message for f in flux.check(documents[0]) if f.severity == "error"]
    assert any(m.startswith(f"{_concrete(rule.path)} is set, but") for m in messages), messages


@pytest.mark.parametrize("case", [(k, r) for k, r in RULES if r.allowed], ids=_id)
def test_an_allowed_value_is_not_refused(case: tuple[str, Refused]) -> None:
    kind, rule = case
    for value in rule.allowed:
        assert refused_fields(kind, _object(kind, rule, value)) == []


def test_a_list_path_names_the_item() -> None:
    obj = {"spec": {"valuesFrom": [{"literal": False}, {"literal": True}]}}
    assert [r.path for r in refused_fields("HelmRelease", obj)] == ["spec.valuesFrom[1].literal"]
    # An empty list asks for nothing.
    assert refused_fields("Kustomization", {"spec": {"buildMetadata": []}}) == []


@pytest.mark.parametrize(
    ("metadata", "spec", "refused"),
    [
        ({"namespace": "team"}, {"storageNamespace": "kube-system"}, True),
        ({"namespace": "team"}, {"storageNamespace": "team"}, False),
        ({"namespace": "team"}, {"targetNamespace": "apps", "storageNamespace": "apps"}, False),
        ({"namespace": "team"}, {"targetNamespace": "apps", "storageNamespace": "team"}, True),
        # A repository file without a namespace: the release's is not known yet.
        ({}, {"storageNamespace": "kube-system"}, False),
    ],
)
def test_a_storage_namespace_apart_from_the_release_is_refused(
    metadata: dict[str, str], spec: dict[str, str], refused: bool
) -> None:
    obj = {"metadata": {"name": "r", **metadata}, "spec": spec}
    found = [r.path for r in refused_fields("HelmRelease", obj)]
    assert found == (["spec.storageNamespace"] if refused else [])
