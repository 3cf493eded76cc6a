"""A real OpenSSH server that serves git repositories on a loopback port.

`sshd -D -e -f <config>` runs in the foreground as the current user (root in CI, where
only key logins are allowed), with a throwaway ed25519 host key and an authorized_keys
file of our own. Every authorized key is restricted to git: its forced command hands
the client's request to `git-shell`, which runs only upload-pack / receive-pack.

Repositories are addressed by absolute path:
`ssh://<user>@127.0.0.1:<port>/<root>/<name>.git` (see `url`).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from kidp_gitops.devcluster.cluster import free_port
from tests.gitserver.keys import KeyPair, generate_keypair

SSHD = Path("/usr/sbin/sshd")

# The forced command of every authorized key: only git, never a shell.
FORCED_COMMAND = 'git-shell -c "$SSH_ORIGINAL_COMMAND"'


class SshdUnavailable(RuntimeError):
    """sshd is not installed (Debian: `apt-get install openssh-server`)."""


class SshGitServer:
    """One sshd process. Use as a context manager, or `start()` / `stop()`.

    `client` is a key pair whose public key is authorized; `known_hosts` is the line a
    client needs to trust this server's host key.
    """

    def __init__(self, workdir: Path, repos_root: Path):
        self.workdir = workdir
        self.repos_root = repos_root
        self.user = getpass.getuser()
        self.port = 0
        self.host_key = generate_keypair()
        self.client = generate_keypair()
        self._authorized = workdir / "authorized_keys"
        self._log = workdir / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SshGitServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def known_hosts(self) -> str:
        """The known_hosts line for this server: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`."""
        return f"[127.0.0.1]:{self.port} {self.host_key.public_key}\n"

    def url(self, name: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.repos_root / name}.git"

    def authorize(self, key: KeyPair) -> None:
        """Let `key` log in (sshd reads the file on every login; no restart needed)."""
        line = f'restrict,command="{FORCED_COMMAND.replace(chr(34), chr(92) + chr(34))}" '
        with open(self._authorized, "a") as f:
            f.write(f"{line}{key.public_key}\n")

    def start(self) -> None:
        if not SSHD.exists():
            raise SshdUnavailable(f"{SSHD} not found: install Debian's openssh-server")
        self.workdir.mkdir(parents=True, exist_ok=True)
        host_key = self.workdir / "ssh_host_ed25519_key"
        host_key.write_bytes(self.host_key.private_key)
        host_key.chmod(0o600)
        self._authorized.write_text("")
        self.authorize(self.client)
        if os.geteuid() == 0:
            # Privilege separation as root needs this directory (systemd makes it at boot).
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for attempt in range(3):
            self.port = free_port()
            config = self.workdir / "sshd_config"
            config.write_text(self._config(host_key))
            if self._spawn(config):
                return
            if attempt == 2 or "Address already in use" not in self.log_tail():
                raise RuntimeError(f"sshd did not start:\n{self.log_tail()}")

    def _config(self, host_key: Path) -> str:
        return "\n".join(
            [
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"PidFile {self.workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {self._authorized}",
                f"AllowUsers {self.user}",
                "StrictModes no",
                "UsePAM no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "PermitUserEnvironment no",
                "AcceptEnv GIT_PROTOCOL",
                # sshd runs commands through the user's shell; Debian's bash reads ~/.bashrc
                # when started by sshd at SHLVL 1. A higher level keeps the user's rc out.
                "SetEnv SHLVL=2",
                "MaxStartups 100:30:200",
                "LoginGraceTime 30",
                "LogLevel VERBOSE",
                "",
            ]
        )

    def _spawn(self, config: Path) -> bool:
        log = open(self._log, "ab")  # noqa: SIM115 - the child keeps writing to it
        try:
            self._proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if self._banner():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _banner(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # Sessions still open run in sshd's process group; end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)


def have_sshd() -> bool:
    return SSHD.exists() and shutil.which("git-shell") is not None
