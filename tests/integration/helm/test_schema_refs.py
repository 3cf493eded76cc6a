"""A chart's values.schema.json in the shared Helm helper: a `$ref` outside the schema
(here the helper's own standard input, where every tenant's request with its credentials
once arrived) fails the release with a reason naming the reference, and is never read;
the shared helper serves on; `install.disableSchemaValidation` still skips the schema."""

from __future__ import annotations

import json
from collections.abc import Callable

from kidp_gitops.engine.run import Engine
from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.helm.helpers import HR, NAME, condition, release, wait_hr
from tests.integration.helm.test_helper import helper
from tests.integration.kustomize.helpers import example_files

SCHEMA = "charts/operators/values.schema.json"
STDIN = "file:///proc/self/fd/0"


async def test_a_schema_reference_outside_the_chart_is_refused_by_name(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
) -> None:
    files = example_files(namespace)
    files[SCHEMA] = json.dumps({"properties": {"replicaCount": {"$ref": STDIN}}})
    shared = helper(engine)
    ended = shared.ended
    await release(kube, namespace, git_repos, http_git, unique_repo, files=files, ready=None)
    failed = await wait_hr(kube, namespace, NAME, "False", "InstallFailed", timeout=180)
    said = condition(failed)["message"]
    assert STDIN in said
    assert "follows only references inside the schema" in said
    assert shared.ended == ended  # refused in the request: the helper serves on

    await kube.patch(
        f"{HR.format(ns=namespace)}/{NAME}",
        {"spec": {"install": {"disableSchemaValidation": True}}},
    )
    await wait_hr(kube, namespace, NAME, "True", "InstallSucceeded", timeout=180)
    assert shared.ended == ended
