"""`spec.postRenderers`: Flux's kustomize post-renderers, run by helm on what it rendered.

    digest(spec) -> "sha256:…" | None     what decides an upgrade (observedPostRenderersDigest)
    prepare(home, scratch, spec) -> flags  helm's --post-renderer flags for one action
    failure(scratch) -> str | None         why the post-renderer failed, in its own words
    main(argv)                             the post-renderer's process (helm starts it)

helm v4 takes a post-renderer only as a plugin (type `postrenderer/v1`, found in the
plugins directory of its home), so `prepare` writes one into the helm home kidp gives
helm: a launcher that starts this module with the interpreter of the engine. helm pipes
the rendered manifests (hooks included: helm v4's `combined`, Flux's default
postRenderStrategy) through it and installs what it prints. Each post-renderer runs the
real kustomize, as Flux runs its library, through `render.build` (sandboxed, bounded):
the manifests as the one resource of a generated kustomization, with the `patches`
(strategic merge or JSON 6902, inline, with optional targets) and `images`; several
post-renderers apply in order, each on the output of the one before.

helm keeps a plugin's standard error to itself ("plugin exited with error"), so the
process also writes its error into the action's scratch directory, where `failure`
reads it for the HelmRelease's status.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import kidp_gitops
from kidp_gitops.api import helm as api
from kidp_gitops.api import kustomize as kapi
from kidp_gitops.goyaml import yamlio
from kidp_gitops.proc import sandbox
from kidp_gitops.render import build

NAME = "kidp-postrender"
SPEC_FILE = "post-renderers.json"
ERROR_FILE = "post-render-error.txt"
_INPUT = "helm-output.yaml"
_MAX_ERROR = 2000


def digest(spec: api.HelmReleaseSpec) -> str | None:
    """The digest of the post-renderers (None without any): a change upgrades the
    release. Flux's own value (observedPostRenderersDigest), so a release taken over
    from helm-controller is not upgraded for nothing: sha256 over the post-renderers
    encoded as Go's encoding/json encodes helm-controller's types."""
    if not spec.post_renderers:
        return None
    return "sha256:" + hashlib.sha256(_go_json(spec.post_renderers)).hexdigest()


def _go_json(renderers: list[api.PostRenderer]) -> bytes:
    """What Go's json.Encoder writes for helm-controller's []PostRenderer: fields in
    the order its types declare them, empty ones left out where they are `omitempty`,
    `<`, `>`, `&`, U+2028 and U+2029 escaped, and a newline. Our schema's deprecated
    lists, which Flux's v2 types lack, follow Flux's fields."""
    items: list[dict[str, Any]] = []
    for renderer in renderers:
        item: dict[str, Any] = {}
        k = renderer.kustomize
        if k is not None:
            fields: dict[str, Any] = {}
            if k.patches:
                fields["patches"] = [_go_patch(p.patch, p.target) for p in k.patches]
            if k.images:
                fields["images"] = [_go_image(i) for i in k.images]
            if k.patches_strategic_merge:
                fields["patchesStrategicMerge"] = list(k.patches_strategic_merge)
            if k.patches_json6902:
                fields["patchesJson6902"] = [
                    {
                        "patch": [_operation(op) for op in p.patch],
                        "target": _go_selector(p.target),
                    }
                    for p in k.patches_json6902
                ]
            item["kustomize"] = fields
        items.append(item)
    text = json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return (text + "\n").encode()


_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _go_patch(patch: str, target: kapi.Selector | None) -> dict[str, Any]:
    found: dict[str, Any] = {"patch": patch}
    if target is not None:
        found["target"] = _go_selector(target)
    return found


def _go_selector(selector: kapi.Selector) -> dict[str, str]:
    fields = (
        ("group", selector.group),
        ("version", selector.version),
        ("kind", selector.kind),
        ("namespace", selector.namespace),
        ("name", selector.name),
        ("annotationSelector", selector.annotation_selector),
        ("labelSelector", selector.label_selector),
    )
    return {key: value for key, value in fields if value}


def _go_image(image: kapi.Image) -> dict[str, str]:
    fields = (
        ("newName", image.new_name),
        ("newTag", image.new_tag),
        ("digest", image.digest),
    )
    return {"name": image.name, **{key: value for key, value in fields if value}}


def prepare(home: Path, scratch: Path, spec: api.HelmReleaseSpec) -> list[str]:
    """The flags that make helm post-render with `spec.postRenderers` (none without
    any), the plugin installed in `home` and the post-renderers written to `scratch`."""
    if not spec.post_renderers:
        return []
    _install_plugin(home)
    spec_file = scratch / SPEC_FILE
    # The engine's build limits (`--build-*` flags) go with them: the plugin is a
    # process of its own, which would otherwise run kustomize under the defaults.
    limits = dataclasses.asdict(sandbox.LIMITS)
    spec_file.write_text(json.dumps({"limits": limits, "postRenderers": _as_json(spec)}))
    return ["--post-renderer", NAME, "--post-renderer-args", str(spec_file)]


def failure(scratch: Path) -> str | None:
    """What the post-renderer said when it failed during the action in `scratch`."""
    try:
        return (scratch / ERROR_FILE).read_text()[:_MAX_ERROR] or None
    except OSError:
        return None


def _as_json(spec: api.HelmReleaseSpec) -> list[object]:
    return [
        r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in spec.post_renderers
    ]


def _install_plugin(home: Path) -> None:
    """The plugin in helm's plugins directory ($HELM_DATA_HOME/plugins), written when
    missing or different; by rename, as reconciles of other releases share the home."""
    directory = home / "data" / "plugins" / NAME
    source = Path(kidp_gitops.__file__).resolve().parent.parent
    launcher = (
        "#!/bin/sh\n"
        "# Written by kidp-gitops: runs kidp_gitops.helm.postrender for helm, isolated (-I):\n"
        "# neither the working directory nor PYTHON* variables reach the import path.\n"
        f"exec {_quote(sys.executable)} -I -c 'import sys; sys.path.insert(0, sys.argv[1]); "
        "from kidp_gitops.helm import postrender; sys.exit(postrender.main(sys.argv[2:]))' "
        f'{_quote(str(source))} "$@"\n'
    )
    manifest = (
        "apiVersion: v1\n"
        "type: postrenderer/v1\n"
        f"name: {NAME}\n"
        "version: 1.0.0\n"
        "runtime: subprocess\n"
        "runtimeConfig:\n"
        "  platformCommand:\n"
        '    - command: "${HELM_PLUGIN_DIR}/postrender.sh"\n'
    )
    directory.mkdir(parents=True, exist_ok=True)
    for name, text, mode in (("postrender.sh", launcher, 0o755), ("plugin.yaml", manifest, 0o644)):
        target = directory / name
        try:
            if target.read_text() == text:
                continue
        except OSError:
            pass
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# ---- the post-renderer's process ---------------------------------------------------------


def render(manifests: str, renderers: list[api.PostRenderer]) -> str:
    """`manifests` through each kustomize post-renderer in order."""
    for renderer in renderers:
        if renderer.kustomize is None:
            continue
        with tempfile.TemporaryDirectory(prefix="kidp-postrender-") as scratch:
            Path(scratch, _INPUT).write_text(manifests)
            objects = build.build(
                Path(scratch), ".", _overlay(renderer.kustomize), allow_remote_bases=False
            )
        manifests = "".join(f"---\n{yamlio.dump_for_substitution(o)}" for o in objects)
    return manifests


def _overlay(k: api.KustomizePostRenderer) -> build.Overlay:
    patches = [build.Patch(p.patch, _target(p.target)) for p in k.patches]
    # The deprecated forms are patches too: a strategic merge patch finds its object by
    # its own kind and name; JSON 6902 operations name theirs in `target`.
    patches += [build.Patch(yamlio.dump_for_substitution(p)) for p in k.patches_strategic_merge]
    patches += [
        build.Patch(json.dumps([_operation(op) for op in p.patch]), _target(p.target))
        for p in k.patches_json6902
    ]
    images = [build.Image(i.name, i.new_name, i.new_tag, i.digest) for i in k.images]
    return build.Overlay(patches=patches, images=images)


def _operation(op: kapi.JSON6902) -> dict[str, Any]:
    """One JSON 6902 operation as RFC 6902 spells it."""
    found: dict[str, Any] = {"op": op.op, "path": op.path}
    if op.from_ is not None:
        found["from"] = op.from_
    if op.op in ("add", "replace", "test"):
        found["value"] = op.value  # null is a value too
    return found


def _target(selector: kapi.Selector | None) -> build.PatchTarget | None:
    if selector is None:
        return None
    return build.PatchTarget(
        group=selector.group,
        version=selector.version,
        kind=selector.kind,
        name=selector.name,
        namespace=selector.namespace,
        label_selector=selector.label_selector,
        annotation_selector=selector.annotation_selector,
    )


def main(argv: list[str]) -> int:
    """Run as helm's post-renderer: the manifests on standard input, the post-renderers
    in the file named by the first argument; the result on standard output."""
    spec_file = Path(argv[0])
    try:
        written = json.loads(spec_file.read_text())
        sandbox.configure(sandbox.Limits(**written["limits"]))
        # kustomize reads helm's output as a file of the build: the file size limit.
        limit = sandbox.LIMITS.file_size
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise build.BuildError(
                f"helm rendered more than {limit} bytes (--build-file-size-limit)"
            )
        renderers = [api.PostRenderer.model_validate(r) for r in written["postRenderers"]]
        out = render(data.decode(), renderers)
    except Exception as err:
        message = f"post-renderer failed: {err}"
        spec_file.with_name(ERROR_FILE).write_text(message)
        print(message, file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 0
