"""Post-build substitution on built objects: Flux's rules, strict, and no Secret leaks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kidp_gitops.goyaml import yamlio
from kidp_gitops.render import build, errors, substitute
from kidp_gitops.render.build import Overlay
from kidp_gitops.render.substitute import Variables, merge_variables
from tests.unit.render.layout import find, write


def obj(text: str) -> dict[str, Any]:
    [doc] = yamlio.load_manifests(text)
    assert isinstance(doc, dict)
    return doc


def one(text: str, variables: Variables | dict[str, str]) -> dict[str, Any]:
    [result] = substitute.substitute([obj(text)], variables)
    return result


NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata:
  name: apps
  labels:
    environment: ${cluster_env:=dev}
    region: "${cluster_region}"
"""


def test_the_flux_docs_example() -> None:
    result = one(NAMESPACE, {"cluster_region": "eu-central-1"})
    assert result["metadata"]["labels"] == {"environment": "dev", "region": "eu-central-1"}
    result = one(NAMESPACE, {"cluster_env": "prod", "cluster_region": "eu-central-1"})
    assert result["metadata"]["labels"]["environment"] == "prod"


def test_every_place_of_the_text_is_substituted() -> None:
    result = one(
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: "cm-${suffix}", namespace: "${ns}"}
        data:
          ${key}: value
          url: https://${host}:${port}/path
          script: |
            #!/bin/sh
            echo "${greeting}, $USER"
        """.replace("\n        ", "\n"),
        {
            "suffix": "a",
            "ns": "apps",
            "key": "dynamic",
            "host": "h",
            "port": "8443",
            "greeting": "hi",
        },
    )
    assert result["metadata"] == {"name": "cm-a", "namespace": "apps"}
    assert result["data"] == {
        "dynamic": "value",
        "url": "https://h:8443/path",
        "script": '#!/bin/sh\necho "hi, $USER"\n',
    }


def test_numbers_and_booleans_keep_their_type() -> None:
    result = one(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: ${replicas}
          paused: ${paused}
          progressDeadlineSeconds: ${deadline:=600}
          ratio: ${ratio}
          label: v${replicas}
        """.replace("\n        ", "\n"),
        {"replicas": "3", "paused": "false", "ratio": "0.25"},
    )
    assert result["spec"] == {
        "replicas": 3,
        "paused": False,
        "progressDeadlineSeconds": 600,
        "ratio": 0.25,
        "label": "v3",
    }


def test_quotes_in_the_manifest_do_not_survive_kustomize() -> None:
    # kustomize prints "${id}" without quotes, so Flux turns it into a number; its docs
    # recommend a ${quote} variable to keep a string.
    text = (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n  annotations:\n"
        '    id: "${id}"\n    wrapped: ${quote}${id}${quote}\n    enabled: ${quote}${on}${quote}\n'
    )
    result = one(text, {"id": "123", "quote": '"', "on": "true"})
    assert result["metadata"]["annotations"] == {"id": 123, "wrapped": "123", "enabled": "true"}


def test_yaml_1_1_booleans_after_substitution() -> None:
    # Flux reads substituted text with yaml.v2: yes/on/off are booleans there.
    result = one("kind: X\nmetadata: {name: x}\nspec:\n  a: ${v}\n", {"v": "yes"})
    assert result["spec"]["a"] is True


def test_escaped_variables_stay_literal() -> None:
    result = one(
        "kind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: $${var}\n  b: cost $$5\n  c: $HOME\n",
        {"var": "nope"},
    )
    assert result["data"] == {"a": "${var}", "b": "cost $5", "c": "$HOME"}


def test_objects_without_dollars_are_returned_as_they_are() -> None:
    plain = obj("kind: ConfigMap\nmetadata: {name: x}\ndata: {when: '2024-01-01', n: '1'}\n")
    [result] = substitute.substitute([plain], {"a": "b"})
    assert result is plain


@pytest.mark.parametrize("where", ["labels", "annotations"])
def test_disabled_objects_are_skipped(where: str) -> None:
    text = (
        f"kind: ConfigMap\nmetadata:\n  name: dashboards\n  {where}:\n"
        "    kustomize.toolkit.fluxcd.io/substitute: disabled\n"
        "data:\n  panel: ${datasource}\n  other: ${unset}\n"
    )
    result = one(text, {"datasource": "prom"})
    assert result["data"] == {"panel": "${datasource}", "other": "${unset}"}


def test_strict_mode_names_the_variable_and_the_object() -> None:
    text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: apps}\n"
    with pytest.raises(errors.VariableNotSet) as caught:
        one(text + "spec: {replicas: '${replicas}'}\n", {"other": "1"})
    assert caught.value.variable == "replicas"
    assert str(caught.value) == (
        "Deployment/apps/web: variable 'replicas' is not set and has no default "
        "(strict substitution)"
    )


def test_an_empty_value_is_set() -> None:
    result = one("kind: ConfigMap\nmetadata: {name: x}\ndata: {a: 'x${empty}y'}\n", {"empty": ""})
    assert result["data"]["a"] == "xy"


def test_malformed_expression_is_an_error() -> None:
    with pytest.raises(errors.SubstitutionError, match=r"ConfigMap/x: .*missing closing brace"):
        one("kind: ConfigMap\nmetadata: {name: x}\ndata: {js: 'const a = `${b.c}`'}\n", {"b": "1"})


def test_result_must_stay_valid_yaml() -> None:
    with pytest.raises(errors.SubstitutionError) as caught:
        one("kind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: ${v}\n", {"v": "[unclosed"})
    message = str(caught.value)
    assert message.startswith("ConfigMap/x: substituted values make invalid YAML: ")
    assert "at line" in message
    assert "[unclosed" in message  # a value not from a Secret may be shown


# --- variables ------------------------------------------------------------------------


def test_merge_later_sources_win_and_secrets_are_tracked() -> None:
    merged = merge_variables(
        [
            ({"region": "eu", "token": "cm-token"}, False),
            ({"token": "secret-token", "password": "p"}, True),
            ({"password": "inline"}, False),
        ]
    )
    assert merged.values == {"region": "eu", "token": "secret-token", "password": "inline"}
    assert merged.secret == frozenset({"token"})


def test_newlines_are_removed_from_values() -> None:
    merged = merge_variables([({"cert": "line1\nline2\n"}, True)])
    assert merged.values["cert"] == "line1line2"


@pytest.mark.parametrize("name", ["1abc", "with-dash", "dotted.name", "", "ünï"])
def test_variable_names_are_validated(name: str) -> None:
    with pytest.raises(errors.SubstitutionError, match="is invalid"):
        merge_variables([({name: "v"}, False)])


# --- secrets never leak ---------------------------------------------------------------

SECRET_VALUE = 'hunter2: "q\\'


def secret_variables() -> Variables:
    return merge_variables([({"password": SECRET_VALUE}, True), ({"plain": "ok"}, False)])


@pytest.mark.parametrize(
    "data",
    [
        "  a: ${password}\n",
        "  a: prefix ${password} suffix\n",
        "  a: '[${password}'\n",  # printed double-quoted: the value's quote ends it
        "  a: ${plain}\n  b: '${password}'\n  c: ${missing}\n",
    ],
)
def test_secret_values_never_appear_in_errors(data: str) -> None:
    text = "kind: Secret\nmetadata: {name: db, namespace: apps}\nstringData:\n" + data
    with pytest.raises(errors.SubstitutionError) as caught:
        one(text, secret_variables())
    message = str(caught.value)
    assert message.startswith("Secret/apps/db: ")
    for fragment in ("hunter2", '"q'):
        assert fragment not in message


def test_secret_values_are_substituted() -> None:
    text = "kind: Secret\nmetadata: {name: db}\nstringData:\n  a: pre-${safe}\n"
    result = one(text, merge_variables([({"safe": "s3cr3t"}, True)]))
    assert result["stringData"]["a"] == "pre-s3cr3t"


# --- with a real build ----------------------------------------------------------------


def test_substituting_a_built_overlay(repo: Path) -> None:
    write(
        repo,
        "infrastructure/overlays/production/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: kidp-operator\n"
        "  namespace: kidp-system\nspec:\n  replicas: ${operator_replicas:=2}\n",
    )
    built = build.build(
        repo, "infrastructure/overlays/production", Overlay(), allow_remote_bases=False
    )
    operator = find(built, "Deployment", "kidp-operator")
    assert operator["spec"]["replicas"] == "${operator_replicas:=2}"
    result = substitute.substitute(built, {"operator_replicas": "4"})
    assert find(result, "Deployment", "kidp-operator")["spec"]["replicas"] == 4
    result = substitute.substitute(built, {"anything": "x"})
    assert find(result, "Deployment", "kidp-operator")["spec"]["replicas"] == 2
