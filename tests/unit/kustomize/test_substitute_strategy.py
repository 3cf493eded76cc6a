"""`postBuild.substituteStrategy`, as Flux: WithVariables (the default) substitutes only
when at least one variable is defined; Always also without any, so defaults apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from kidp_gitops.api import kustomize as api
from kidp_gitops.kube.client import KubeClient
from kidp_gitops.kustomize import pipeline

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: greeting
  namespace: apps
data:
  text: ${greeting:=hello}
"""


async def _rendered(tmp_path: Path, post_build: dict[str, Any]) -> str:
    (tmp_path / "cm.yaml").write_text(MANIFEST)
    spec = api.KustomizationSpec.model_validate(
        {
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "interval": "10m",
            "prune": True,
            "postBuild": post_build,
        }
    )
    obj = {"metadata": {"name": "apps", "namespace": "apps"}}
    # No substituteFrom and no decryption: nothing is read from the API server.
    objects = await pipeline.render(
        cast(KubeClient, None), obj, spec, tmp_path, allow_remote_bases=False
    )
    return str(objects[0]["data"]["text"])


@pytest.mark.parametrize(
    ("post_build", "text"),
    [
        ({}, "${greeting:=hello}"),
        ({"substituteStrategy": "WithVariables"}, "${greeting:=hello}"),
        ({"substituteStrategy": "Always"}, "hello"),
        ({"substitute": {"other": "x"}}, "hello"),
        ({"substitute": {"greeting": "hi"}}, "hi"),
    ],
)
async def test_substitution_runs_with_variables_or_always(
    tmp_path: Path, post_build: dict[str, Any], text: str
) -> None:
    assert await _rendered(tmp_path, post_build) == text
