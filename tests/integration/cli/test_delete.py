"""`kidp delete`: asks first (unless --silent; Ctrl-C at the question deletes nothing),
deletes, and with --wait waits for the controller to finalize — a pruning Kustomization
takes its objects with it, a HelmRelease uninstalls its release."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kidp_gitops.devcluster import DevCluster
from kidp_gitops.kube import ApiError, KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.cli.conftest import Kidp
from tests.integration.cli.helpers import (
    ctrl_c,
    one_line,
    read_until,
    run_kidp,
    synced_infrastructure,
)
from tests.integration.helm.helpers import (
    DEPLOY,
    HC,
    HR,
    prd_release,
    release_secrets,
    wait_hr,
)
from tests.integration.kustomize.helpers import (
    KS,
    example_files,
    exists,
    kustomization,
    setup_source,
)

pytestmark = pytest.mark.usefixtures("engine")


async def test_delete_a_kustomization(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await synced_infrastructure(kube, namespace, git_repos, http_git, unique_repo)
    path = f"{KS.format(ns=namespace)}/infrastructure"

    declined = await kidp("delete", "ks", "infrastructure", "-n", namespace, input="n\n")
    assert declined.exit_code == 1
    assert "and every object it applied (prune is on)" in declined.output
    assert declined.output.splitlines()[-1] == "✗ aborted: nothing deleted"
    await kube.get(path)  # still there

    deleted = await kidp("delete", "ks", "infrastructure", "-n", namespace, "-s", "--wait")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.output.splitlines()[-1] == "✔ Kustomization deleted"
    with pytest.raises(ApiError) as gone:
        await kube.get(f"/apis/apps/v1/namespaces/{namespace}-sys/deployments/kidp-operator")
    assert gone.value.not_found  # pruned by the finalizer

    missing = await kidp("delete", "source", "git", "nope", "-n", namespace, "-s")
    assert missing.exit_code == 1
    assert one_line(missing) == f"✗ GitRepository '{namespace}/nope' not found"


async def test_ctrl_c_at_the_prompt_deletes_nothing(
    installed: DevCluster, kube: KubeClient, namespace: str
) -> None:
    await kube.create(KS.format(ns=namespace), kustomization("kept", "apps", suspend=True))
    asking = await run_kidp(installed, "delete", "ks", "kept", "-n", namespace)
    assert asking.stderr is not None
    try:
        prompt = await read_until(asking.stderr, "[y/N]")
    finally:
        code, _, rest = await ctrl_c(asking)
    assert f"Delete Kustomization '{namespace}/kept'" in prompt
    assert code == 130, rest
    assert "Traceback" not in rest
    assert [line for line in rest.splitlines() if line.strip()] == []
    await kube.get(f"{KS.format(ns=namespace)}/kept")  # still there


async def test_delete_a_helmrelease_uninstalls_it(
    kidp: Kidp,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, example_files(namespace))
    await kube.create(HR.format(ns=namespace), prd_release(namespace))
    installed = await wait_hr(kube, namespace, "kidp-operators", "True", "InstallSucceeded")
    deployment = DEPLOY.format(ns=namespace, name="kidp-operators")
    await kube.get(deployment)

    declined = await kidp("delete", "hr", "kidp-operators", "-n", namespace, input="n\n")
    assert declined.exit_code == 1
    assert "and uninstall its Helm release?" in declined.output
    await kube.get(deployment)  # still installed

    deleted = await kidp(
        "delete", "helmrelease", "kidp-operators", "-n", namespace, "--silent", "--wait"
    )
    assert deleted.exit_code == 0, deleted.output
    assert deleted.output.splitlines()[-1] == "✔ HelmRelease deleted"
    # Uninstalled by the controller's finalizer before the HelmRelease went.
    assert not await exists(kube, deployment)
    assert await release_secrets(kube, namespace, "kidp-operators") == []
    chart_ns, _, chart = installed["status"]["helmChart"].partition("/")
    assert not await exists(kube, f"{HC.format(ns=chart_ns)}/{chart}")
