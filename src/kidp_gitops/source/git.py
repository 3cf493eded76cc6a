"""Git for the source controller: resolve a ref, and check out the tree it names.

    git = Git(cache_dir)
    revision = await git.ls_remote(url, auth, Ref(branch="main"))   # one round trip
    checkout = await git.fetch(url, auth, Ref(semver="^1.2"), dest)   # files in dest
    checkout = await git.fetch(url, auth, ref, dest, resolved=revision)  # no second listing

Everything runs the `git` program (asyncio subprocesses) in an isolated environment per
call (`gitenv.Session`). Each URL has one bare, shallow mirror under the cache
directory, shared by every caller and guarded by an asyncio lock per URL: `fetch` asks
the remote which commit the ref names (ls-remote), fetches that commit at depth 1 only
when the mirror lacks it, and exports its tree into `dest` (no `.git`). An unchanged
remote therefore costs one ls-remote, and a caller that has just run `ls_remote` hands
its answer to `fetch` (`resolved`), so a new commit costs one ls-remote too. Submodules
are fetched the same way, each through the mirror of its own URL, with the same
credentials.

Errors are the `giterrors` tree: each names its Flux reason and a cause a person can fix.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kidp_gitops.source import gitrefs
from kidp_gitops.vcs import gitenv, giterrors, giturl

# The names callers need, so `from kidp_gitops.source import git` is enough.
Auth = gitenv.Auth
Ref = gitrefs.Ref
Revision = gitrefs.Revision

DEFAULT_TIMEOUT = 60.0
MAX_SUBMODULE_DEPTH = 8

__all__ = ["Auth", "Checkout", "Git", "Ref", "Revision"]


@dataclass(frozen=True)
class Checkout:
    """The outcome of `fetch`: what was checked out where, and whether the remote was
    fetched from (False: the mirror already had the commit)."""

    revision: Revision
    path: Path
    fetched: bool


class Git:
    """Git operations with one shared mirror per remote URL under `cache_dir`.

    The locks live in this object: one `Git` per cache directory (per process).
    """

    def __init__(self, cache_dir: Path, timeout: float = DEFAULT_TIMEOUT):
        self.cache_dir = cache_dir
        self.timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}

    async def ls_remote(
        self, url: str, auth: Auth | None, ref: Ref, timeout: float | None = None
    ) -> Revision:
        """The revision `ref` names on the remote now."""
        remote = giturl.parse(url)
        ref.validate()
        deadline = gitenv.Deadline.after(timeout or self.timeout)
        async with gitenv.Session(remote, auth) as session:
            return await self._resolve(session, ref, deadline)

    async def fetch(
        self,
        url: str,
        auth: Auth | None,
        ref: Ref,
        dest: Path,
        sparse: Sequence[str] = (),
        submodules: bool = False,
        timeout: float | None = None,
        resolved: Revision | None = None,
    ) -> Checkout:
        """Check out the tree `ref` names into `dest` (absent or empty).

        `sparse`: only these directories of the tree. `submodules`: also check out
        every submodule under them, recursively. `resolved`: what `ls_remote` answered
        for `ref` a moment ago; the remote is not asked again (a listing is a round trip
        and a git process on both ends, on the path from a push to its apply). A branch
        that has moved since is still fetched at its newer commit.
        """
        remote = giturl.parse(url)
        ref.validate()
        paths = [_sparse_path(p) for p in sparse]
        _prepare(dest)
        deadline = gitenv.Deadline.after(timeout or self.timeout)
        return await self._fetch(remote, auth, ref, dest, paths, submodules, deadline, 0, resolved)

    async def _fetch(
        self,
        remote: giturl.RemoteURL,
        auth: Auth | None,
        ref: Ref,
        dest: Path,
        paths: list[str],
        submodules: bool,
        deadline: gitenv.Deadline,
        depth: int,
        resolved: Revision | None = None,
    ) -> Checkout:
        async with gitenv.Session(remote, auth) as session:
            revision = resolved or await self._resolve(session, ref, deadline)
            async with self._lock(remote, deadline):
                mirror = await self._mirror(session, remote, deadline)
                fetched = not await self._has_commit(session, mirror, revision.sha, deadline)
                if fetched:
                    revision = await self._fetch_commit(session, mirror, revision, deadline)
                await self._export(session, mirror, revision, dest, paths, deadline)
                links = []
                if submodules:
                    links = await self._gitlinks(session, mirror, revision, deadline)
        for path, sha, sub_url in links:
            if paths and not any(path == p or path.startswith(p + "/") for p in paths):
                continue
            if depth >= MAX_SUBMODULE_DEPTH:
                raise giterrors.GitError(
                    f"submodules of {remote.url} nest deeper than {MAX_SUBMODULE_DEPTH} levels"
                )
            sub = giturl.parse(giturl.resolve_relative(remote.url, sub_url))
            target = dest / path
            _prepare(target)
            await self._fetch(sub, auth, Ref(commit=sha), target, [], True, deadline, depth + 1)
        return Checkout(revision, dest, fetched)

    async def _resolve(
        self, session: gitenv.Session, ref: Ref, deadline: gitenv.Deadline
    ) -> Revision:
        url = session.remote.url
        listing = await session.run(
            ["ls-remote", *ref.ls_remote_args(), url, *ref.patterns()],
            deadline,
            "list references of",
        )
        return gitrefs.resolve(ref, listing, url)

    def _lock(self, remote: giturl.RemoteURL, deadline: gitenv.Deadline) -> _DeadlineLock:
        lock = self._locks.setdefault(remote.url, asyncio.Lock())
        return _DeadlineLock(lock, deadline, remote.url)

    async def _mirror(
        self, session: gitenv.Session, remote: giturl.RemoteURL, deadline: gitenv.Deadline
    ) -> Path:
        key = hashlib.sha256(remote.url.encode()).hexdigest()[:32]
        mirror = self.cache_dir / f"{key}.git"
        if not (mirror / "HEAD").exists():
            await asyncio.to_thread(shutil.rmtree, mirror, ignore_errors=True)
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            await session.run(
                ["init", "-q", "--bare", str(mirror)], deadline, "prepare a mirror of"
            )
        return mirror

    async def _has_commit(
        self, session: gitenv.Session, mirror: Path, sha: str, deadline: gitenv.Deadline
    ) -> bool:
        try:
            await session.run(
                ["--git-dir", str(mirror), "cat-file", "-e", f"{sha}^{{commit}}"],
                deadline,
                "look up a commit of",
            )
        except giterrors.GitTimeout:
            raise
        except giterrors.GitError:
            return False
        return True

    async def _fetch_commit(
        self, session: gitenv.Session, mirror: Path, revision: Revision, deadline: gitenv.Deadline
    ) -> Revision:
        """Fetch the one commit at depth 1; a branch that moved since ls-remote gives its
        newer commit, so the returned revision is what was actually fetched."""
        source = revision.ref or revision.sha
        local = f"refs/kidp/{revision.ref or 'commits/' + revision.sha}"
        try:
            await session.run(
                [
                    "--git-dir",
                    str(mirror),
                    # Housekeeping after the fetch runs inside the call, never left behind.
                    "-c",
                    "gc.autoDetach=false",
                    "fetch",
                    "--quiet",
                    "--depth=1",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--no-recurse-submodules",
                    session.remote.url,
                    f"+{source}:{local}",
                ],
                deadline,
                "fetch from",
            )
        except giterrors.RefNotFound:
            raise giterrors.RefNotFound(
                f"{_what(revision)} not found in {session.remote.url}"
            ) from None
        fetched = (
            await session.run(
                ["--git-dir", str(mirror), "rev-parse", "--verify", f"{local}^{{commit}}"],
                deadline,
                "read the fetched commit of",
            )
        ).strip()
        return Revision(fetched, revision.name, revision.ref)

    async def _export(
        self,
        session: gitenv.Session,
        mirror: Path,
        revision: Revision,
        dest: Path,
        paths: list[str],
        deadline: gitenv.Deadline,
    ) -> None:
        index = {"GIT_INDEX_FILE": str(session.home / "index")}
        base = ["--git-dir", str(mirror), "--work-tree", str(dest)]
        if not paths:
            await session.run(
                [*base, "read-tree", "--reset", "-u", revision.sha],
                deadline,
                "check out",
                extra_env=index,
            )
            return
        for path in paths:
            listed = await session.run(
                ["--git-dir", str(mirror), "ls-tree", "-d", revision.sha, "--", path],
                deadline,
                "list the tree of",
            )
            if not listed.strip():
                raise giterrors.RefNotFound(
                    f"sparse checkout directory '{path}' does not exist in revision"
                    f" {revision} of {session.remote.url}"
                )
        await session.run(
            [*base, "checkout", revision.sha, "--", *paths], deadline, "check out", extra_env=index
        )

    async def _gitlinks(
        self, session: gitenv.Session, mirror: Path, revision: Revision, deadline: gitenv.Deadline
    ) -> list[tuple[str, str, str]]:
        """(path, commit, url) of every submodule of the revision."""
        git = ["--git-dir", str(mirror)]
        tree = await session.run(
            [*git, "ls-tree", "-r", "-z", revision.sha], deadline, "list the tree of"
        )
        links = {}
        for entry in tree.split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and fields[1] == "commit":
                links[path] = fields[2]
        if not links:
            return []
        config = await session.run(
            [
                *git,
                "config",
                "--blob",
                f"{revision.sha}:.gitmodules",
                "-z",
                "--get-regexp",
                r"^submodule\..*\.(path|url)$",
            ],
            deadline,
            "read .gitmodules of",
        )
        names: dict[str, dict[str, str]] = {}
        for item in filter(None, config.split("\0")):
            key, _, value = item.partition("\n")
            name, _, field = key.removeprefix("submodule.").rpartition(".")
            names.setdefault(name, {})[field] = value
        by_path = {v["path"]: v.get("url", "") for v in names.values() if "path" in v}
        found = []
        for path, sha in sorted(links.items()):
            if not by_path.get(path):
                raise giterrors.GitError(
                    f"submodule '{path}' of {session.remote.url} has no url in .gitmodules"
                )
            found.append((path, sha, by_path[path]))
        return found


class _DeadlineLock:
    """The URL's lock, waited for no longer than the call's deadline."""

    def __init__(self, lock: asyncio.Lock, deadline: gitenv.Deadline, url: str):
        self._lock, self._deadline, self._url = lock, deadline, url

    async def __aenter__(self) -> None:
        try:
            async with asyncio.timeout(max(self._deadline.remaining(), 0)):
                await self._lock.acquire()
        except TimeoutError:
            raise self._deadline.exceeded("wait for another fetch of", self._url) from None

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()


def _what(revision: Revision) -> str:
    if revision.ref is None:
        return f"commit '{revision.sha}'"
    return f"'{revision.name}' ({revision.ref}@{revision.sha[:12]})"


def _sparse_path(path: str) -> str:
    clean = PurePosixPath(path.strip().removeprefix("./"))
    if clean.is_absolute() or ".." in clean.parts or str(clean) in ("", "."):
        raise giterrors.InvalidRef(
            f"sparse checkout directory '{path}' must be a path inside the repository"
        )
    return str(clean)


def _prepare(dest: Path) -> None:
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"checkout destination {dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
