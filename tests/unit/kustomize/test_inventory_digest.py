"""The inventory's bookkeeping: which objects it keeps, and the digest of a build that
lets a restarted engine skip an apply."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kidp_gitops.kustomize import inventory
from kidp_gitops.kustomize.inventory import ObjRef


def cm(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "apps"},
        "data": {"v": value},
    }


def secret(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "apps"},
        "data": {"password": value},
    }


def test_the_digest_does_not_depend_on_order_but_on_every_value() -> None:
    a, b = cm("a", "1"), cm("b", "2")
    assert inventory.digest([a, b]) == inventory.digest([b, a])
    assert inventory.digest([a, b]).startswith("sha256:")
    assert inventory.digest([a, b]) != inventory.digest([a, cm("b", "3")])
    labelled = copy.deepcopy(a)
    labelled["metadata"]["labels"] = {"kustomize.toolkit.fluxcd.io/name": "apps"}
    assert inventory.digest([labelled, b]) != inventory.digest([a, b])


def test_the_digest_carries_nothing_of_a_secret_value() -> None:
    # Equal digests for different values: nothing in the status can be matched against
    # guesses of a secret. A changed key still changes it.
    assert inventory.digest([secret("aHVudGVyMg==")]) == inventory.digest([secret("MTIzNA==")])
    renamed = secret("MTIzNA==")
    renamed["data"] = {"token": "MTIzNA=="}
    assert inventory.digest([renamed]) != inventory.digest([secret("MTIzNA==")])


def test_union_keeps_each_object_once_with_the_newer_version() -> None:
    old = [ObjRef("apps", "a", "apps", "Deployment", "v1beta1"), ObjRef("apps", "b", "", "Pod")]
    new = [ObjRef("apps", "a", "apps", "Deployment", "v1")]
    merged = inventory.union(old, new)
    assert sorted(merged) == sorted(
        [ObjRef("apps", "a", "apps", "Deployment", "v1"), ObjRef("apps", "b", "", "Pod")]
    )
    assert inventory.same_objects(merged, [*old, *new])
    assert not inventory.same_objects(merged, new)


def test_stale_entries_round_trip_through_the_status() -> None:
    refs = [ObjRef("", "apps", "", "Namespace", "v1"), ObjRef("apps", "a", "", "ConfigMap", "v1")]
    status = {"inventory": {"entries": inventory.entries(refs)}}
    assert sorted(inventory.from_status(status)) == sorted(refs)
    assert inventory.stale(refs, refs[1:]) == refs[:1]


def test_entries_are_read_as_flux_writes_them() -> None:
    role = ObjRef("", "system:auth-delegator", "rbac.authorization.k8s.io", "ClusterRole", "v1")
    assert role.id == "_system__auth-delegator_rbac.authorization.k8s.io_ClusterRole"
    assert inventory.parse_entry({"id": role.id, "v": "v1"}) == role
    # A name the API server would refuse (so never created) still reads, to be settled
    # by the next prune instead of failing every reconcile.
    odd = inventory.parse_entry({"id": "apps_Not_Valid__ConfigMap", "v": "v1"})
    assert (odd.namespace, odd.name, odd.group, odd.kind) == ("apps", "Not_Valid", "", "ConfigMap")
    for bad in ("apps_a_ConfigMap", "no-separators", "apps___ConfigMap"):
        with pytest.raises(ValueError, match="namespace_name_group_kind"):
            inventory.parse_entry({"id": bad, "v": "v1"})
