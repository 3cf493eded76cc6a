"""The import contract of DESIGN.md §3: api ← kube ← runtime ← controllers ← faces.

Controllers never import each other; they meet at the API server and in `storage`.
Only `kube` talks to the Kubernetes API (and imports its client library). The faces
(`cli`, `dashboard`) stand on the read-model (`views`) and never import each other; the
engine imports no face (`process` hands it the dashboard for `kidp controller run`); no
two packages import each other, however indirectly. Every package's allowed list is
written out: no wildcards. A violation names the module and the import, so the fix is
obvious.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kidp_gitops"
CONTROLLERS = {"source", "kustomize", "helm", "notification", "image"}
# `vcs` (git program plumbing, semver) is shared by the controllers that talk to Git;
# `goyaml` (YAML as Go reads it) and `proc` (running programs confined) by all; `oci`
# (registry client, Flux's artifact format) by the controllers that read registries; `s3`
# (SigV4, the object storage calls) by the Bucket source; `cel` (CEL as Flux evaluates it).
FOUNDATION = {"api", "kube", "runtime", "storage", "vcs", "goyaml", "proc", "oci", "s3", "cel"}
# What each top-level package may import from the project (besides itself).
ALLOWED: dict[str, set[str]] = {
    "api": set(),
    "goyaml": set(),
    "proc": set(),
    # CEL as Flux evaluates it; `fields` reads the refused table's path syntax.
    "cel": {"api"},
    "kube": {"api", "goyaml"},  # goyaml's bounds: a tenant's kubeconfig is measured first
    "runtime": {"api", "kube", "proc", "cel"},
    "storage": {"proc"},
    "vcs": {"proc"},
    "oci": {"runtime", "storage"},  # outbound HTTP and registryauth; storage.untar
    "s3": {"runtime"},  # outbound HTTP
    # Offline: the renderer and SOPS never reach the cluster (callers pass data in).
    "sops": {"goyaml", "proc"},
    "render": {"api", "goyaml", "proc", "sops"},
    "devcluster": {"kube"},
    **{c: FOUNDATION for c in CONTROLLERS},
    "kustomize": FOUNDATION | {"render", "sops"},
    "helm": FOUNDATION | {"render"},  # spec.postRenderers: kustomize over helm's output
    "validate": {"api", "cel", "goyaml", "render", "sops"},
    "install": {"api", "kube"},
    # The read-model of both faces: the kinds table, kstatus (→ runtime), the inventory.
    "views": {"api", "kube", "runtime", "kustomize"},
    "dashboard": {"api", "kube", "runtime", "kustomize", "views"},
    "engine": {*FOUNDATION, *CONTROLLERS},
    "daemon": {"api", "engine", "dashboard"},  # the controller process: engine + its HTTP apps
    "local": {"devcluster", "install", "kube", "proc"},
    "cli": {
        "api",
        "kube",
        "runtime",
        "vcs",
        "proc",
        "oci",  # kidp push/pull/tag/list artifact
        "render",  # kidp build/diff: render a local directory as the controller would
        "kustomize",  # kidp build/diff: the controller's pipeline (build, decrypt, substitute)
        "views",
        "validate",  # kidp validate and kidp migrate
        "sops",  # kidp validate reads age identities to check sops MACs
        "install",
        "devcluster",
        "local",
        "engine",
        "daemon",
    },
}
FACES = ("cli", "dashboard")


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "kidp_gitops":
            # `from kidp_gitops import validate` imports the package kidp_gitops.validate
            found += [
                (node.lineno, f"kidp_gitops.{alias.name}")
                for alias in node.names
                if (SRC / alias.name).is_dir()  # not an attribute such as __version__
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.parent != SRC)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_respects_the_layers(path: Path) -> None:
    package = path.relative_to(SRC).parts[0]
    allowed = ALLOWED.get(package)
    assert allowed is not None, f"{package}/ is not in the layering of DESIGN.md §3"
    for line, name in imports_of(path):
        if name.startswith("kubernetes_asyncio"):
            assert package == "kube", f"{path.name}:{line} imports {name}: only kube/ may"
        if not name.startswith("kidp_gitops."):
            continue
        target = name.split(".")[1]
        if target == package:
            continue
        assert target in allowed, (
            f"{package}/{path.name}:{line} imports {name}; {package}/ may import only "
            f"{sorted(allowed) or 'nothing of ours'}"
        )


def reachable(package: str) -> set[str]:
    """Every package `package` may reach through the allowed imports."""
    seen: set[str] = set()
    todo = [package]
    while todo:
        for other in ALLOWED[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return seen


@pytest.mark.parametrize("package", ["validate", "render", "sops"])
def test_offline_packages_cannot_reach_the_cluster(package: str) -> None:
    """`kidp validate`, the renderer and SOPS are offline: nothing they may import,
    directly or not, reaches `kube` (and with it the Kubernetes client)."""
    assert "kube" not in reachable(package)


def package_imports() -> dict[str, set[str]]:
    """Top-level package → the packages of ours it imports (at any depth of a module,
    so the imports a function makes lazily count too)."""
    graph: dict[str, set[str]] = {}
    for path in modules():
        package = path.relative_to(SRC).parts[0]
        for _, name in imports_of(path):
            if name.startswith("kidp_gitops.") and (target := name.split(".")[1]) != package:
                graph.setdefault(package, set()).add(target)
    return graph


def test_the_lists_are_explicit() -> None:
    assert not [p for p, allowed in ALLOWED.items() if "*" in allowed]
    assert "cli" not in ALLOWED["dashboard"]
    assert "dashboard" not in ALLOWED["cli"]
    assert not ALLOWED["engine"] & {*FACES, "daemon", "local", "views"}


def test_the_faces_import_neither_each_other_nor_the_engine_a_face() -> None:
    graph = package_imports()
    assert "dashboard" not in graph.get("cli", set())
    assert "cli" not in graph.get("dashboard", set())
    assert not graph.get("engine", set()) & {*FACES, "daemon", "local", "views"}


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """One cycle through each node that lies on one, as `a → b → a`."""

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for target in sorted(graph.get(node, set())):
                if target == start:
                    return [*path, start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
        return None

    return [" → ".join(c) for n in sorted(graph) if (c := cycle_from(n))]


def test_no_package_cycles() -> None:
    """No package reaches itself through the packages it imports."""
    assert cycles(package_imports()) == []


def module_imports() -> dict[str, set[str]]:
    """Module → the modules of ours it imports when it is loaded: module-level imports,
    not those under `if TYPE_CHECKING` nor a function's lazy ones (which run later)."""
    names = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        tree = ast.parse(path.read_text(), str(path))
        found: set[str] = set()
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.level == 0:
                    for alias in inner.names:
                        whole = f"{inner.module}.{alias.name}"
                        found.add(whole if whole in names else inner.module)
                elif isinstance(inner, ast.Import):
                    found.update(alias.name for alias in inner.names)
        graph[name] = {m for m in found if m in names and m != name}
    return graph


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_cycles() -> None:
    """No module reaches itself through what it imports as it loads (DESIGN.md §3)."""
    graph = module_imports()
    assert len(graph) > 100, "the probe reads the modules"
    assert cycles(graph) == []


def _apply_calls(path: Path) -> list[int]:
    """Lines that send a server-side apply or a dry run: `KubeClient.apply(…,
    field_manager=…)`, or the API's `dryRun` parameter or apply-patch content type."""
    tree = ast.parse(path.read_text(), str(path))
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "apply"
            and any(k.arg == "field_manager" for k in node.keywords)
        ) or (
            isinstance(node, ast.Constant)
            and node.value
            in (
                "dryRun",
                "application/apply-patch+yaml",
            )
        ):
            lines.append(node.lineno)
    return lines


def test_only_the_resource_manager_applies() -> None:
    """One resource manager (`kube/ssa.py`) plans and applies for the controllers
    and the CLI alike, so `kidp diff` cannot drift from what the controller does."""
    allowed = {SRC / "kube" / "ssa.py", SRC / "kube" / "client.py"}
    found = {
        str(p.relative_to(SRC)): lines
        for p in modules()
        if p not in allowed and (lines := _apply_calls(p))
    }
    assert found == {}
    assert _apply_calls(SRC / "kube" / "ssa.py"), "the probe finds the manager's applies"


def _untyped_status_params(path: Path) -> list[str]:
    """Functions of `path` with a parameter named `status` that is a plain dict (or
    JSON, or Any): the untyped reconcile state of issue 14."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            if arg.arg != "status" or arg.annotation is None:
                continue
            text = ast.unparse(arg.annotation)
            if text.startswith(("dict", "Dict", "JSON", "Any", "Mapping")):
                found.append(f"{node.name}:{node.lineno} status: {text}")
    return found


# Readers of the wire format that are not reconcile steps: the read-model of the faces
# (`views`) turns a fetched object's `status.inventory` into references.
WIRE_READERS = {"kustomize/inventory.py": ["from_status"]}


def test_no_reconciler_has_an_untyped_status() -> None:
    """Each controller's steps work on its kind's status model from `api/` (through
    `TypedReconciler`), never on `status: dict[str, Any]` read by string keys."""
    found = {}
    for path in modules():
        rel = str(path.relative_to(SRC))
        if rel.split("/")[0] not in CONTROLLERS:
            continue
        allowed = WIRE_READERS.get(rel, [])
        bad = [f for f in _untyped_status_params(path) if f.split(":")[0] not in allowed]
        if bad:
            found[rel] = bad
    assert found == {}
    probe = _untyped_status_params(SRC / "runtime" / "conditions.py")
    assert probe, "the probe finds a dict-typed status where one is meant (conditions.get)"
