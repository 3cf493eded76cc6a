"""Objects written under an older API version survive the change of storage version that
`kidp install` makes (image automation moved from v1beta2 to v1, as in Flux 2.7)."""

from __future__ import annotations

import contextlib
import copy

from kidp_gitops.api import crds, image
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import ApiError, KubeClient
from tests.integration.conftest import install_crds
from tests.integration.wait import until

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def served(kube: KubeClient, path: str) -> bool:
    """Whether a list path answers: a CRD's new or changed version is served moments
    after the CRD is written (404, or 429 "storage is (re)initializing", meanwhile)."""
    try:
        await kube.get(path)
    except ApiError as err:
        if err.status not in (404, 429, 503):
            raise
        return False
    return True


async def test_a_policy_stored_as_v1beta2_is_read_and_written_as_v1_after_install(
    bare_cluster: DevCluster, bare_kube: KubeClient, bare_namespace: str
) -> None:
    # The ImagePolicy CRD as an earlier kidp installed it: v1beta2 is the storage version.
    older = copy.deepcopy(crds.crd(image.ImagePolicy))
    for version in older["spec"]["versions"]:
        version["storage"] = version["name"] == "v1beta2"
    name = older["metadata"]["name"]
    await bare_kube.apply(f"{CRD_PATH}/{name}", older, field_manager="kidp", force=True)

    async def stores_v1beta2() -> bool:
        crd = await bare_kube.get(f"{CRD_PATH}/{name}")
        return "v1beta2" in crd["status"].get("storedVersions", [])

    old_path = f"/apis/image.toolkit.fluxcd.io/v1beta2/namespaces/{bare_namespace}/imagepolicies"
    await until(lambda: served(bare_kube, old_path), what="v1beta2 ImagePolicies to be served")
    spec = {
        "imageRepositoryRef": {"name": "app"},
        "policy": {"semver": {"range": ">=1.0.0"}},
        "filterTags": {"pattern": "^v(?P<v>.*)$", "extract": "$v"},
    }
    await bare_kube.create(
        old_path,
        {
            "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
            "kind": "ImagePolicy",
            "metadata": {"name": "kept"},
            "spec": spec,
        },
    )
    await until(stores_v1beta2, what="v1beta2 among the stored versions")

    await install_crds(bare_cluster)  # back to our CRDs: v1 is the storage version

    crd = await bare_kube.get(f"{CRD_PATH}/{name}")
    storage = [v["name"] for v in crd["spec"]["versions"] if v["storage"]]
    assert storage == ["v1"]
    new_path = f"/apis/image.toolkit.fluxcd.io/v1/namespaces/{bare_namespace}/imagepolicies/kept"
    kept = await bare_kube.get(new_path)
    assert kept["apiVersion"] == "image.toolkit.fluxcd.io/v1"
    assert kept["spec"]["filterTags"] == spec["filterTags"]
    assert kept["spec"]["policy"] == spec["policy"]
    # Written again through v1, it is stored as v1; read through v1beta2 it is the same.
    await bare_kube.patch(new_path, {"spec": {"suspend": True}})
    again = await bare_kube.get(f"{old_path}/kept")
    assert again["spec"]["suspend"] is True
    assert again["spec"]["filterTags"] == spec["filterTags"]


async def test_install_over_a_crd_with_an_extra_stored_version_keeps_it(
    bare_cluster: DevCluster, bare_kube: KubeClient, bare_namespace: str
) -> None:
    """Flux ≤ 2.6 served Kustomizations as v1beta2 too: objects stored in it stay
    readable after `kidp install`, which keeps the version instead of failing."""
    from kidp_gitops.api import kustomize
    from kidp_gitops.install import apply

    ours = crds.crd(kustomize.Kustomization)
    name = ours["metadata"]["name"]
    flux = copy.deepcopy(ours)
    (v1,) = flux["spec"]["versions"]
    flux["spec"]["versions"] = [
        {**copy.deepcopy(v1), "storage": False},
        {**copy.deepcopy(v1), "name": "v1beta2", "storage": True},
    ]
    await bare_kube.apply(f"{CRD_PATH}/{name}", flux, field_manager="flux", force=True)
    old_path = (
        f"/apis/kustomize.toolkit.fluxcd.io/v1beta2/namespaces/{bare_namespace}/kustomizations"
    )
    await until(lambda: served(bare_kube, old_path), what="v1beta2 Kustomizations to be served")
    await bare_kube.create(
        old_path,
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2",
            "kind": "Kustomization",
            "metadata": {"name": "old"},
            "spec": {
                "interval": "10m",
                "path": "./apps",
                "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "nowhere"},
                "suspend": True,
            },
        },
    )
    try:
        installed = await apply.install(bare_kube, [ours])
        assert installed.kept == [f"{name} v1beta2"]
        crd = await bare_kube.get(f"{CRD_PATH}/{name}")
        versions = {v["name"]: (v["served"], v["storage"]) for v in crd["spec"]["versions"]}
        assert versions == {"v1": (True, True), "v1beta2": (True, False)}
        kept = await bare_kube.get(f"{old_path}/old")
        assert kept["spec"]["path"] == "./apps"
        again = await apply.install(bare_kube, [ours])  # nothing more to keep or change
        assert again.kept == [f"{name} v1beta2"]
        assert [a.action for a in again.applied] == ["unchanged"]
    finally:
        # Back as install_crds leaves it: no object in v1beta2, v1 alone.
        with contextlib.suppress(ApiError):  # not there when the create failed
            await bare_kube.delete(f"{old_path}/old")
        crd = await bare_kube.get(f"{CRD_PATH}/{name}")
        crd["status"]["storedVersions"] = ["v1"]
        await bare_kube.request("PUT", f"{CRD_PATH}/{name}/status", body=crd)
        crd = await bare_kube.get(f"{CRD_PATH}/{name}")
        crd["spec"]["versions"] = ours["spec"]["versions"]
        await bare_kube.request("PUT", f"{CRD_PATH}/{name}", body=crd)
