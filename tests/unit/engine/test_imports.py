"""What an engine process loads before it holds anything: every process pays it, and a
sharded install runs one process per shard (issue 20's ceiling). The libraries of
features most clusters never use — CEL expressions, SOPS decryption — load when first
used, not with the controllers: 20 MiB of each process's memory.

A fresh interpreter imports what `kidp controller run` imports for every controller
(`kidp up`'s process) and names the modules it loaded; that the features still work once
used is what their own tests check.
"""

from __future__ import annotations

import json
import subprocess
import sys

ENGINE = [
    "kidp_gitops.cli.controller",
    "kidp_gitops.daemon.controller",
    "kidp_gitops.engine.run",
    # engine/run.py's `_controllers` and the notification family, every one hosted
    "kidp_gitops.helm.binary",
    "kidp_gitops.source.controller",
    "kidp_gitops.kustomize.controller",
    "kidp_gitops.helm.controller",
    "kidp_gitops.notification",
    "kidp_gitops.image",
    "kidp_gitops.dashboard",
]
ON_FIRST_USE = ("cel_expr_python", "pyrage", "cryptography")


def loaded(*modules: str) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout))


def test_an_engine_loads_no_cel_nor_sops_cipher_before_they_are_used() -> None:
    modules = loaded(*ENGINE)
    assert "kidp_gitops.kustomize.reconciler" in modules  # the controllers were imported
    assert sorted(m for m in modules if m.partition(".")[0] in ON_FIRST_USE) == []
