"""The Secrets and ConfigMaps a Kustomization's build reads, as the watch indexes them."""

from __future__ import annotations

from kidp_gitops.kustomize.reconciler import input_keys


def test_substitute_from_and_the_decryption_secret_are_inputs() -> None:
    ks = {
        "metadata": {"name": "apps", "namespace": "ns"},
        "spec": {
            "postBuild": {
                "substitute": {"a": "b"},
                "substituteFrom": [
                    {"kind": "ConfigMap", "name": "vars"},
                    {"kind": "Secret", "name": "db", "optional": True},
                ],
            },
            "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
        },
    }
    assert input_keys(ks) == ["ConfigMap/ns/vars", "Secret/ns/db", "Secret/ns/sops-age"]


def test_a_kustomization_that_names_nothing_has_no_inputs() -> None:
    ks = {
        "metadata": {"name": "apps", "namespace": "ns"},
        "spec": {"decryption": {"provider": "sops"}},
    }
    assert input_keys(ks) == []
