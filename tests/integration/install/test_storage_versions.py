"""Objects written under an older API version survive the change of storage version that
`kidp install` makes (image automation moved from v1beta2 to v1, as in Flux 2.7)."""

from __future__ import annotations

import copy

from kidp_gitops.api import crds, image
from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import KubeClient
from tests.integration.conftest import install_crds
from tests.integration.wait import until

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


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
