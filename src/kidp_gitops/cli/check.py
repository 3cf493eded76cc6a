"""`kidp check [--pre]`: is this cluster ready for kidp, and is kidp running in it?

    --pre   the prerequisites only: the API server answers and is recent enough
    (full)  also every CRD kidp serves is installed and Established with all its
            versions, and the controllers run: the Deployment is available or, when
            the controllers run outside the cluster (`kidp up`, `--without-controllers`),
            they hold a fresh leader lease

Each check prints one ✔ or ✗ line, as `flux check` does; any ✗ exits 1.
"""

from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kidp_gitops.cli import output, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import times

if TYPE_CHECKING:
    from kidp_gitops.kube import KubeClient

JSON = dict[str, Any]
MINIMUM = (1, 28)
LEASE = "kidp-controller-leader"


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def ok(self, message: str) -> None:
        output.success(message)

    def fail(self, message: str) -> None:
        self.failed += 1
        output.failure(message)


def version_of(info: JSON) -> tuple[int, int, str]:
    """(major, minor, text) of the API server's /version answer."""
    text = str(info.get("gitVersion") or f"v{info.get('major')}.{info.get('minor')}")
    found = re.match(r"v?(\d+)\.(\d+)", text)
    if not found:
        raise CliError(f"cannot read the Kubernetes version {text!r}")
    return int(found[1]), int(found[2]), text.lstrip("v")


async def prerequisites(client: KubeClient, report: Report) -> None:
    output.step("checking prerequisites")
    major, minor, text = version_of(await client.get("/version"))
    wanted = f">={MINIMUM[0]}.{MINIMUM[1]}.0-0"
    if (major, minor) >= MINIMUM:
        report.ok(f"Kubernetes {text} {wanted}")
    else:
        report.fail(f"Kubernetes {text} does not match {wanted}")


async def crds(client: KubeClient, report: Report) -> None:
    from kidp_gitops.api import kinds as api_kinds
    from kidp_gitops.kube import ApiError

    output.step("checking crds")
    for model in api_kinds.ALL_KINDS:
        info = model.RESOURCE
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{info.crd_name}"
        try:
            crd = await client.get(path)
        except ApiError as err:
            if not err.not_found:
                raise
            report.fail(f"{info.crd_name} is not installed (kidp install)")
            continue
        established = any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in (crd.get("status") or {}).get("conditions") or []
        )
        served = {v["name"] for v in crd["spec"].get("versions") or [] if v.get("served")}
        missing = [v for v in info.versions if v not in served]
        if not established:
            report.fail(f"{info.crd_name} is not Established")
        elif missing:
            report.fail(f"{info.crd_name} does not serve {', '.join(missing)} (kidp install)")
        else:
            report.ok(f"{info.crd_name}/{info.storage_version}")


async def controllers(client: KubeClient, namespace: str, report: Report) -> None:
    """Each controller Deployment of the install (Flux's label, as `flux check` finds
    them) must be available; none at all is fine when the controllers run outside."""
    from kidp_gitops.install import manifests

    output.step("checking controllers")
    listed = await client.get(
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        params={"labelSelector": "app.kubernetes.io/part-of=flux"},
    )
    deployments = sorted(listed.get("items") or [], key=lambda d: str(d["metadata"]["name"]))
    for deploy in deployments:
        name = deploy["metadata"]["name"]
        available = (deploy.get("status") or {}).get("availableReplicas") or 0
        image = deploy["spec"]["template"]["spec"]["containers"][0].get("image", "")
        if available >= 1:
            report.ok(f"{name}: deployment ready")
            output.step(image)
        else:
            report.fail(f"{name}: deployment not ready (no available replica)")
    if deployments:
        return
    name = manifests.ENGINE
    holder = await _lease_holder(client, namespace)
    if holder:
        report.ok(f"{name}: running outside the cluster, leader {holder}")
    else:
        output.warning(
            f"{name}: no Deployment in {namespace} and no fresh leader lease; controllers "
            "may run outside the cluster without leader election (kidp up)"
        )


async def _lease_holder(client: KubeClient, namespace: str) -> str | None:
    from kidp_gitops.kube import ApiError

    try:
        lease = await client.get(
            f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}"
        )
    except ApiError as err:
        if err.not_found:
            return None
        raise
    spec = lease.get("spec") or {}
    renewed = times.parse_time(spec.get("renewTime"))
    duration = float(spec.get("leaseDurationSeconds") or 15)
    now = datetime.datetime.now(datetime.UTC)
    if renewed is None or (now - renewed).total_seconds() > 2 * duration:
        return None
    return str(spec.get("holderIdentity") or "unknown")


def check(
    pre: Annotated[bool, typer.Option("--pre", help="Check the prerequisites only.")] = False,
    namespace: session.Namespace = session.DEFAULT_NAMESPACE,
    kubeconfig: session.Kubeconfig = None,
    context: session.Context = None,
) -> None:
    """Check the cluster's prerequisites and kidp's installation."""
    target = session.Target(kubeconfig, context, namespace)
    report = Report()

    async def work(client: KubeClient) -> None:
        await prerequisites(client, report)
        if pre:
            return
        await controllers(client, namespace, report)
        await crds(client, report)

    session.run(target, work)
    if report.failed:
        raise CliError(f"{report.failed} check(s) failed")
    output.success("all checks passed" if not pre else "prerequisites checks passed")
