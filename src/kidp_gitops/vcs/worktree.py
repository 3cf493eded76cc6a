"""Clone, edit, commit, push: a working copy of a remote branch, for whoever writes to
Git (ImageUpdateAutomation's image updates, `kidp bootstrap git`'s manifests).

    async with WorkingClone(url, auth, deadline) as clone:
        await clone.checkout("main", push_branch="production")   # the push branch if it
                                                                  # exists, else from main
        # or: await clone.open_branch("main")                    # its tip, or a new
                                                                  # branch of an empty repo
        ... edit files under clone.path ...
        if await clone.commit(name, email, message):              # None: nothing changed
            await clone.push("production", options)

The copy lives in a temporary directory (under `workdir`, when given) removed on exit,
off the event loop.
Every git call runs in `vcs.gitenv`'s isolated environment (credentials never on a
command line, never in an error message).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from kidp_gitops.vcs import gitenv, giturl


class WorkingClone:
    def __init__(
        self,
        url: str | giturl.RemoteURL,
        auth: gitenv.Auth | None,
        deadline: gitenv.Deadline,
        workdir: Path | None = None,
        *,
        prefix: str = "worktree-",
    ):
        self.remote = url if isinstance(url, giturl.RemoteURL) else giturl.parse(url)
        self.auth = auth
        self.deadline = deadline
        self.workdir = workdir
        self.prefix = prefix
        self.path = Path()
        self._session: gitenv.Session | None = None
        self._tmp: Path | None = None

    async def __aenter__(self) -> WorkingClone:
        self._tmp = Path(tempfile.mkdtemp(dir=self.workdir, prefix=self.prefix))
        self.path = self._tmp / "repo"
        self._session = gitenv.Session(self.remote, self.auth)
        await self._session.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.__aexit__(exc_type, exc, tb)
        if self._tmp is not None:
            await asyncio.to_thread(shutil.rmtree, self._tmp, ignore_errors=True)

    async def _git(self, args: list[str], action: str, env: dict[str, str] | None = None) -> str:
        assert self._session is not None, "use WorkingClone in `async with`"
        return await self._session.run(
            ["-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args],
            self.deadline,
            action,
            cwd=self.path if self.path.exists() else None,
            extra_env=env,
        )

    async def checkout(self, branch: str | None, push_branch: str | None) -> str:
        """Clone `branch` (the remote's default when None); switch to `push_branch`,
        from the remote when it exists there, else new from the checkout. The branch
        checked out."""
        url = self.remote.url
        args = ["clone", "--quiet", "--no-tags", "--single-branch"]
        if branch:
            args += ["--branch", branch]
        await self._git([*args, url, str(self.path)], "clone")
        current = (await self._git(["rev-parse", "--abbrev-ref", "HEAD"], "read")).strip()
        if not push_branch or push_branch == current:
            return current
        listed = await self._git(
            ["ls-remote", "--heads", url, f"refs/heads/{push_branch}"], "list branches of"
        )
        if listed.strip():
            await self._git(
                [
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    url,
                    f"+refs/heads/{push_branch}:refs/remotes/origin/{push_branch}",
                ],
                "fetch from",
            )
            await self._git(
                ["checkout", "--quiet", "-B", push_branch, f"refs/remotes/origin/{push_branch}"],
                "check out",
            )
        else:
            await self._git(["checkout", "--quiet", "-b", push_branch], "check out")
        return push_branch

    async def open_branch(self, branch: str) -> bool:
        """Check out the tip of `branch` (one commit deep), or start it with no commit
        when the remote has no such branch (an empty repository); whether it existed."""
        url = self.remote.url
        self.path.mkdir(parents=True)
        await self._git(["init", "--quiet", "--initial-branch", branch], "initialize")
        listed = await self._git(
            ["ls-remote", "--heads", url, f"refs/heads/{branch}"], "list branches of"
        )
        if not listed.strip():
            return False
        await self._git(
            ["fetch", "--quiet", "--no-tags", "--depth", "1", url, f"refs/heads/{branch}"],
            "fetch from",
        )
        await self._git(["checkout", "--quiet", "-B", branch, "FETCH_HEAD"], "check out")
        return True

    async def head(self) -> str:
        return (await self._git(["rev-parse", "HEAD"], "read")).strip()

    async def commit(self, name: str, email: str, message: str) -> str | None:
        """Commit every change of the tree as `name <email>`; its sha, or None when
        nothing changed."""
        await self._git(["add", "--all"], "stage changes in")
        staged = await self._git(["status", "--porcelain"], "read the status of")
        if not staged.strip():
            return None
        env = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        await self._git(
            ["commit", "--quiet", "--no-verify", "-F", self._message_file(message)],
            "commit in",
            env,
        )
        return await self.head()

    def _message_file(self, message: str) -> str:
        assert self._tmp is not None
        path = self._tmp / "message"
        path.write_text(message if message.endswith("\n") else message + "\n", encoding="utf-8")
        return str(path)

    async def push(self, branch: str, options: dict[str, str]) -> None:
        args = ["push", "--quiet", "--porcelain"]
        for key, value in sorted(options.items()):
            args += ["-o", f"{key}={value}" if value else key]
        await self._git([*args, self.remote.url, f"HEAD:refs/heads/{branch}"], "push to")
