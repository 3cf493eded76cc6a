"""Real git servers for tests, on loopback: OpenSSH's sshd and git's smart-HTTP backend.

    keys      throwaway ed25519 key pairs in OpenSSH formats
    repos     bare repositories under one root, and work trees that commit and push
    sshd      `sshd -D` with its own host key, authorized_keys and git-shell
    http      `git http-backend` behind aiohttp, with basic auth (and a bearer token)
    fixtures  session-wide pytest fixtures over the three above

Nothing here but `fixtures` imports pytest, so the servers serve scripts and benchmarks too.
"""

from tests.gitserver.http import GitHttpServer
from tests.gitserver.keys import KeyPair, generate_keypair
from tests.gitserver.repos import GitRepos, WorkTree
from tests.gitserver.sshd import SshGitServer

__all__ = ["GitHttpServer", "GitRepos", "KeyPair", "SshGitServer", "WorkTree", "generate_keypair"]
