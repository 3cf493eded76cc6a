"""The fields of Flux's CRDs that kidp's CRDs lack, per kind: run by hand against the CRDs
of Flux's current releases, its output pasted into docs/flux-compatibility.md.

    python -m bench.flux_parity FLUX_CRD.yaml... [--heading "Flux 2.9 (...)"]

Each file is a CRD as Flux's controllers ship it (`config/crd/bases/*.yaml` of a release
tag). A field is a JSON path in the schema of `spec` or `status` (`spec.chart.spec.version`,
`spec.patches[].target`); a field Flux has under any served version and ours has under
none is listed. Kinds kidp does not serve at all are listed as such. Nothing here is
checked by the suite: it reads files fetched for reading, not shipped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from kidp_gitops.api import crds

Schema = dict[str, Any]


def fields(schema: Schema, prefix: str) -> Iterator[str]:
    """Every field path under a structural schema node."""
    if schema.get("type") == "array" and "items" in schema:
        yield from fields(schema["items"], f"{prefix}[]")
        return
    for name, child in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path
        yield from fields(child, path)


def crd_fields(crd: Schema) -> set[str]:
    """The spec and status fields of every served version of a CRD."""
    found: set[str] = set()
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        root = version["schema"]["openAPIV3Schema"]["properties"]
        for top in ("spec", "status"):
            if top in root:
                found |= set(fields(root[top], top))
    return found


def served_versions(crd: Schema) -> list[str]:
    return [v["name"] for v in crd["spec"]["versions"] if v.get("served", True)]


def compare(flux_files: list[Path]) -> list[str]:
    ours = {c["metadata"]["name"]: c for c in crds.all_crds()}
    lines: list[str] = []
    for path in sorted(flux_files):
        flux = yaml.safe_load(path.read_text())
        name, kind = flux["metadata"]["name"], flux["spec"]["names"]["kind"]
        versions = ", ".join(served_versions(flux))
        mine = ours.get(name)
        if mine is None:
            lines.append(f"| {kind} | {versions} | — | not served by kidp | |")
            continue
        missing = sorted(crd_fields(flux) - crd_fields(mine))
        # A missing parent says it all: leave out the fields under it.
        shown = [
            m
            for m in missing
            if not any(m.startswith(f"{p}.") or m.startswith(f"{p}[]") for p in missing if p != m)
        ]
        spec = _listed(m for m in shown if m.startswith("spec"))
        status = _listed(m for m in shown if m.startswith("status"))
        kidp = ", ".join(served_versions(mine))
        lines.append(f"| {kind} | {versions} | {kidp} | {spec} | {status} |")
    return lines


def _listed(paths: Iterable[str]) -> str:
    return ", ".join(f"`{p}`" for p in paths) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--heading", default="Flux")
    args = parser.parse_args(argv)
    print(
        f"| Kind | {args.heading} versions | kidp versions | Flux spec fields kidp lacks "
        "| Flux status fields kidp does not report |"
    )
    print("|---|---|---|---|---|")
    for line in compare(args.files):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
