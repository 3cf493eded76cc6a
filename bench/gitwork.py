"""Bare repositories the git server serves, a worktree per repository, and the manifests
the scenarios commit.

Pushes go to the bare repository's path, not through the git server: the server's
counters then show only what the engine fetched, and a push returns as soon as the
commit is on the server — the moment a webhook would fire. Every git command runs as
an asyncio subprocess, so the bench's watches keep their timestamps honest while git
works.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import yaml


class GitError(Exception):
    pass


class GitRepos:
    def __init__(self, root: Path, url_base: str = ""):
        self.bare_dir = root / "git"
        self.work_dir = root / "work"
        self.home = root / "git-home"
        self.url_base = url_base
        for d in (self.bare_dir, self.work_dir, self.home):
            d.mkdir(parents=True, exist_ok=True)
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@localhost",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@localhost",
        }

    def url(self, name: str) -> str:
        return f"{self.url_base}/{name}.git"

    async def git(self, *args: str, cwd: Path) -> str:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-c",
            "gc.auto=0",
            *args,
            cwd=cwd,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {err.decode(errors='replace').strip()}")
        return out.decode().strip()

    async def create(self, name: str, files: dict[str, str]) -> str:
        """A new bare repository `name` whose main branch holds `files`; returns the sha."""
        bare = self.bare_dir / f"{name}.git"
        await self.git(
            "init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=self.bare_dir
        )
        work = self.work_dir / name
        work.mkdir(parents=True)
        await self.git("init", "-q", "--initial-branch=main", cwd=work)
        write(work, files)
        await self.git("add", "-A", cwd=work)
        await self.git("commit", "-q", "-m", "initial", cwd=work)
        await self.push(name)
        return await self.head(name)

    async def commit(self, name: str, files: dict[str, str], message: str) -> str:
        work = self.work_dir / name
        write(work, files)
        await self.git("commit", "-q", "-a", "-m", message, cwd=work)
        return await self.head(name)

    async def push(self, name: str) -> None:
        bare = self.bare_dir / f"{name}.git"
        await self.git("push", "-q", str(bare), "HEAD:main", cwd=self.work_dir / name)

    async def head(self, name: str) -> str:
        return await self.git("rev-parse", "HEAD", cwd=self.work_dir / name)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# ---- manifests -------------------------------------------------------------------------

KINDS = ("ServiceAccount", "ConfigMap", "Service", "Deployment")


def obj(kind: str, name: str, namespace: str | None, rev: int = 0) -> dict[str, object]:
    meta: dict[str, object] = {"name": name, "labels": {"app": name, "bench": "kidp"}}
    if namespace:
        meta["namespace"] = namespace
    if kind == "ServiceAccount":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta}
    if kind == "ConfigMap":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": meta,
            "data": {"rev": str(rev), "greeting": f"hello from {name}"},
        }
    if kind == "Service":
        return {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": meta,
            "spec": {
                "selector": {"app": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        }
    if kind == "Deployment":
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": meta,
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "nginx:1.27",
                                "ports": [{"containerPort": 8080}],
                            }
                        ]
                    },
                },
            },
        }
    raise ValueError(kind)


def app_files(
    directory: str, namespace: str | None, count: int = 4, rev: int = 0, prefix: str = "app"
) -> dict[str, str]:
    """`count` objects cycling through KINDS (`count` = 4: one of each, named `prefix`),
    one file per object plus a kustomization.yaml listing them, under `directory`."""
    files: dict[str, str] = {}
    resources = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        name = prefix if count == len(KINDS) else f"{prefix}-{i:03d}"
        fname = f"{kind.lower()}-{name}.yaml"
        files[f"{directory}/{fname}"] = yaml.safe_dump(obj(kind, name, namespace, rev))
        resources.append(fname)
    files[f"{directory}/kustomization.yaml"] = yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        }
    )
    return files


def configmap_file(directory: str, name: str, namespace: str | None, rev: int) -> dict[str, str]:
    """The file of one ConfigMap of `app_files`, at another revision."""
    return {
        f"{directory}/configmap-{name}.yaml": yaml.safe_dump(obj("ConfigMap", name, namespace, rev))
    }
