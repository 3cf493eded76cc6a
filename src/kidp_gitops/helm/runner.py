"""Running the helm program: one narrow seam for every helm action.

    await run(["upgrade", …], kubeconfig=path, home=dir, timeout=s) -> stdout

helm runs with a private home (its cache, config and data directories under `home`), a
kubeconfig made for the call, and no environment of ours beyond PATH, so nothing of the
engine's environment (tokens, $KUBECONFIG) leaks into it. A failure raises `HelmFailed`
with helm's own error line, trimmed; helm and everything it started are killed if the
caller is cancelled or the deadline passes (`proc.run`).
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from kidp_gitops.helm import binary
from kidp_gitops.proc import run as proc

# Time on top of helm's own --timeout before we give up on the process.
GRACE = 60.0
_MAX_MESSAGE = 1500


class HelmFailed(Exception):
    """helm exited non-zero (or did not finish); the message is helm's error."""


async def run(
    args: list[str],
    *,
    kubeconfig: Path | None,
    home: Path,
    timeout: float,
) -> str:
    program = await asyncio.to_thread(binary.find)
    argv = [str(program), *args]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    try:
        done = await proc.run(argv, env=_environment(home), timeout=timeout + GRACE)
    except proc.TimedOut as exc:
        raise HelmFailed(f"helm {args[0]} did not finish within {timeout + GRACE:g}s") from exc
    if done.code != 0:
        raise HelmFailed(message(done.stderr) or f"helm {args[0]} failed")
    return done.text()


def message(stderr: str) -> str:
    """helm's error, on one line: from its first 'Error:' line on (helm continues a
    template error on indented lines), without warnings before it or hints after it."""
    lines = [line.strip() for line in stderr.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("Error:")), None)
    if start is None:
        kept = [line for line in lines if line][-3:]
    else:
        kept = []
        for line in lines[start:]:
            if not line or line.startswith("Use --debug"):
                break
            kept.append(line)
    text = re.sub(r"^Error:\s*", "", " ".join(kept))
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text


def _environment(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_DRIVER": "secret",
        "KUBECONFIG": os.devnull,
    }
