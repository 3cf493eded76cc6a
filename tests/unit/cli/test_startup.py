"""`kidp` starts at once (issue 13): `kidp version`, every `--help` and TAB completion
load neither the cluster client (aiohttp, kubernetes_asyncio, `kube/`), nor pydantic and
the API types, nor the controllers. Subcommands load on use (`cli/lazy.py`) and the
command modules import the rest of kidp_gitops inside the functions that use it
(`cli/__init__.py`).

Each case runs `kidp` in a fresh interpreter and looks at the modules it imported; the
time it takes is measured by `python -m bench --only cli`, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kidp_gitops.cli import main

# Runs `kidp ARGS…` (or, with --every-help, `--help` of every command of the tree) as
# the console script does, then writes the names of the imported modules to OUT.
DRIVER = """
import json, sys
out, args = sys.argv[1], sys.argv[2:]
from kidp_gitops.cli import main
if args == ["--every-help"]:
    import typer.main
    from typer.testing import CliRunner

    def paths(command, path):
        yield path
        for name in list(getattr(command, "commands", {})):
            yield from paths(command.commands[name], [*path, name])

    for path in paths(typer.main.get_command(main.app), []):
        result = CliRunner().invoke(main.app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
else:
    sys.argv = ["kidp", *args]
    try:
        main.run()
    except SystemExit:
        pass
with open(out, "w") as f:
    json.dump(sorted(sys.modules), f)
"""

CLUSTER_CLIENT = ("aiohttp", "kubernetes_asyncio", "kidp_gitops.kube")
MODELS = ("pydantic", "pydantic_core", "kidp_gitops.api")
# Plain data the command tree reads (the kinds table, the read-model's names for them):
# neither the client nor the models, so every command may load them.
PLAIN = frozenset(
    {
        "kidp_gitops.api",
        "kidp_gitops.api.wellknown",
        "kidp_gitops.api.resources",
        "kidp_gitops.views",
        "kidp_gitops.views.actions",
        "kidp_gitops.views.errors",
        "kidp_gitops.views.events",
        "kidp_gitops.views.kinds",
        "kidp_gitops.views.times",
    }
)


def imported(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    out = tmp_path / "modules.json"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "_KIDP"))}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), *args],
        env={**clean, "NO_COLOR": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), done.stderr
    return set(json.loads(out.read_text()))


def of(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The modules of those packages that were loaded, beyond the plain ones."""
    return sorted(
        m for m in modules - PLAIN if any(m == p or m.startswith(f"{p}.") for p in packages)
    )


def beyond_the_cli(modules: set[str]) -> list[str]:
    """kidp_gitops modules other than the CLI's own and the plain ones: kube, the API
    types, the controllers…"""
    ours = [m for m in modules - PLAIN if m.startswith("kidp_gitops.")]
    return sorted(m for m in ours if m.partition(".")[2].partition(".")[0] != "cli")


def test_version_loads_no_subcommand(tmp_path: Path) -> None:
    modules = imported(tmp_path, "version")
    assert beyond_the_cli(modules) == []
    assert of(modules, CLUSTER_CLIENT + MODELS) == []
    commands = {
        f"kidp_gitops.cli.{where.partition(':')[0]}" for where in main.Kidp.subcommands.values()
    }
    assert sorted(commands & modules) == ["kidp_gitops.cli.main"]


@pytest.mark.parametrize("args", [["--help"], ["get", "--help"], ["get", "ks", "--help"]])
def test_help_loads_nothing_heavy(tmp_path: Path, args: list[str]) -> None:
    modules = imported(tmp_path, *args)
    assert beyond_the_cli(modules) == []
    assert of(modules, CLUSTER_CLIENT + MODELS) == []


def test_no_help_of_the_tree_loads_anything_heavy(tmp_path: Path) -> None:
    modules = imported(tmp_path, "--every-help")
    assert "kidp_gitops.cli.controller" in modules  # the whole tree was walked
    assert beyond_the_cli(modules) == []
    assert of(modules, CLUSTER_CLIENT + MODELS) == []


def completion(words: str, kubeconfig: Path) -> dict[str, str]:
    return {
        "_KIDP_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
        "KUBECONFIG": str(kubeconfig),
    }


def unreachable(tmp_path: Path) -> Path:
    """A kubeconfig whose API server refuses connections at once."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n"
        "users:\n- name: u\n  user:\n    token: t\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
    )
    return path


def test_completing_a_command_loads_nothing_heavy(tmp_path: Path) -> None:
    env = completion("kidp get ", unreachable(tmp_path))
    modules = imported(tmp_path, env=env)
    assert "kidp_gitops.cli.get" in modules  # the completion did run
    assert beyond_the_cli(modules) == []
    assert of(modules, CLUSTER_CLIENT + MODELS) == []


def test_completing_a_name_loads_no_client(tmp_path: Path) -> None:
    """Names come from one LIST sent with the standard library (`kube/quickget.py`): no
    aiohttp, no kubernetes_asyncio, no API types, no controllers."""
    env = completion("kidp reconcile ks ", unreachable(tmp_path))
    modules = imported(tmp_path, env=env)
    assert "kidp_gitops.kube.quickget" in modules  # it did try the cluster
    client = ("aiohttp", "kubernetes_asyncio", "kidp_gitops.kube.client")
    assert of(modules, (*client, *MODELS)) == []
    assert [m for m in beyond_the_cli(modules) if not m.startswith("kidp_gitops.kube")] == []
