"""The YAML blocks of the PRD, read at test time and sorted by what they describe.

Each YAML document of a ```yaml block is one of:
    object     a manifest of one of our kinds (it must parse, and fit the CRD)
    fragment   a bare `spec:` snippet of one of our kinds (checked field by field)
    foreign    something else (Secrets, RBAC, a Prometheus rule, CI, .sops.yaml)
A document that fits none of these fails the suite, so new PRD blocks get looked at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from kidp_gitops.api import kinds

PRD_NAME = "gitops-integration-prd.md"
_CANDIDATES = (
    Path(__file__).resolve().parents[4] / "shared" / "prd" / PRD_NAME,
    Path("/work/shared/prd") / PRD_NAME,
)
_BLOCK = re.compile(r"^```yaml[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class PrdDocument:
    block: int
    """1-based number of the yaml block in the PRD."""
    line: int
    """Line of the PRD the block starts at."""
    index: int
    """0-based number of the document within the block."""
    data: Any
    role: Literal["object", "fragment", "foreign"]
    model: type[kinds.AnyObject] | None
    """The kind of an object or a fragment."""
    note: str

    @property
    def id(self) -> str:
        return f"block{self.block}.{self.index}-{self.note}"


def prd_path() -> Path | None:
    return next((p for p in _CANDIDATES if p.is_file()), None)


def documents() -> list[PrdDocument]:
    """Every YAML document of the PRD, classified; empty when the PRD is not present."""
    path = prd_path()
    if path is None:
        return []
    text = path.read_text()
    found: list[PrdDocument] = []
    for number, match in enumerate(_BLOCK.finditer(text), start=1):
        line = text.count("\n", 0, match.start()) + 1
        for index, data in enumerate(yaml.safe_load_all(match.group(1))):
            role, model, note = classify(data)
            found.append(PrdDocument(number, line, index, data, role, model, note))
    return found


def classify(
    data: Any,
) -> tuple[Literal["object", "fragment", "foreign"], type[kinds.AnyObject] | None, str]:
    if isinstance(data, Mapping) and "apiVersion" in data:
        api_version, kind = str(data["apiVersion"]), str(data.get("kind"))
        name = (data.get("metadata") or {}).get("name", "")
        if kinds.is_ours(api_version):
            return "object", kinds.model_for(api_version, kind), f"{kind}/{name}"
        return "foreign", None, f"{kind}/{name}"
    if isinstance(data, Mapping) and set(data) == {"spec"} and isinstance(data["spec"], Mapping):
        fields = set(data["spec"])
        owners = [m for m in kinds.ALL_KINDS if fields <= json_names(kinds.spec_model(m))]
        if len(owners) == 1:
            return "fragment", owners[0], f"{owners[0].RESOURCE.kind}-spec"
        return "foreign", None, f"unclassified spec fragment (fits {len(owners)} kinds)"
    if (
        isinstance(data, list)
        and data
        and all(isinstance(r, Mapping) and "alert" in r for r in data)
    ):
        return "foreign", None, "PrometheusRule-rules"
    if isinstance(data, Mapping) and "creation_rules" in data:
        return "foreign", None, "sops-config"
    if isinstance(data, Mapping) and "jobs" in data:
        return "foreign", None, "github-workflow"
    return "foreign", None, "unclassified"


def json_names(model: type[Any]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}
