"""One isolated environment for the `git` program, and the runner that uses it.

Each `Session` gets an empty temporary HOME that holds everything git may need and is
deleted afterwards:

    askpass        a tiny script git runs for a username or password (GIT_ASKPASS); it
                   prints the 0600 files `username` / `password` next to it
    identity       the SSH private key, 0600 (decrypted first when it has a passphrase)
    known_hosts    the only host keys ssh trusts (StrictHostKeyChecking=yes: no trust on
                   first use)
    .gitconfig     the bearer token as an `http.<url>.extraHeader`, scoped to the remote
    ca.crt         the certificate authorities https trusts, when the secret has some
    tls.crt/.key   the client certificate https presents (mutual TLS), the key 0600

No system or user configuration is read, no terminal prompt or SSH agent is used, and
credentials are never on a command line. `run` kills git's whole process group when the
deadline passes (or the caller is cancelled), and scrubs every secret from what git
printed before it becomes an error message.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shlex
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Protocol

from kidp_gitops.proc import background
from kidp_gitops.proc.run import TimedOut, run
from kidp_gitops.vcs import giterrors, giturl

ASKPASS = """#!/bin/sh
case "$1" in
  Username*) exec cat "$KIDP_GIT_CREDENTIALS/username" 2>/dev/null ;;
  *passphrase*) exec cat "$KIDP_GIT_CREDENTIALS/passphrase" 2>/dev/null ;;
  *) exec cat "$KIDP_GIT_CREDENTIALS/password" 2>/dev/null ;;
esac
"""

# Inherited from the caller's environment; everything else is set here.
PASSTHROUGH = (
    "PATH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
)


def with_system_roots(ca_cert: bytes) -> bytes:
    """The system's trusted roots and then `ca_cert`, as one PEM bundle: a Secret's
    `ca.crt` adds to what is trusted, as go-git (Flux's git client) appends it to the
    system pool, instead of replacing it as GIT_SSL_CAINFO alone would (a repository
    whose submodules or redirects live on a public host would stop verifying)."""
    system = _system_roots()
    return system.rstrip(b"\n") + b"\n" + ca_cert if system else ca_cert


@functools.cache
def _system_roots() -> bytes:
    """The system's CA bundle, read once per process (it is read where a git session
    starts, on the event loop); empty when there is no bundle file (only a directory of
    hashes): then the Secret's CA alone is trusted."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            with open(candidate, "rb") as f:
                return f.read()
    return b""


class TLSKeys(Protocol):
    """The PEM data of a Secret's TLS keys, as `runtime.credentials.tls_data` reads them:
    `vcs` stands below `runtime`, so its callers read them and pass them in."""

    @property
    def ca(self) -> bytes | None: ...
    @property
    def cert(self) -> bytes | None: ...
    @property
    def key(self) -> bytes | None: ...


@dataclass(frozen=True)
class Auth:
    """Credentials for one remote, as a Flux GitRepository secret holds them.

    HTTP(S): `username` + `password` (basic), or `bearer_token`; `ca_cert` (PEM) to
    trust a private CA; `client_cert` + `client_key` (PEM) for mutual TLS. SSH:
    `identity` (a private key in OpenSSH or PEM format), `known_hosts`, and `password`
    as the key's passphrase. None of the secret fields appear in repr().
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    identity: bytes | None = field(default=None, repr=False)
    known_hosts: str | None = None
    ca_cert: bytes | None = field(default=None, repr=False)
    client_cert: bytes | None = field(default=None, repr=False)
    client_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_secret(cls, data: dict[str, bytes], tls: TLSKeys) -> Auth:
        """The credentials of a Flux Git secret's decoded data (username, password,
        bearerToken, identity, known_hosts) and of its TLS keys, read by the caller
        with `runtime.credentials.tls_data(data, where, legacy=LEGACY_GIT)`."""

        def text(key: str) -> str | None:
            value = data.get(key)
            return value.decode() if value is not None else None

        return cls(
            username=text("username"),
            password=text("password"),
            bearer_token=text("bearerToken"),
            identity=data.get("identity"),
            known_hosts=text("known_hosts"),
            ca_cert=tls.ca,
            client_cert=tls.cert,
            client_key=tls.key,
        )

    def secrets(self) -> list[str]:
        found = [s for s in (self.password, self.bearer_token) if s]
        for key in (self.identity, self.client_key):
            if key:
                text = key.decode("utf-8", "replace")
                found.append(text.strip())
                found.extend(line for line in text.splitlines() if len(line.strip()) >= 16)
        return found


def scrub(text: str, secrets: list[str]) -> str:
    """`text` without any secret in it, nor the password of any user:pass@ URL."""
    text = re.sub(r"(://[^/@:\s]*):[^/@\s]*@", r"\1:***@", text)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class Deadline:
    """When a whole operation (several git calls) must be done, on the loop's clock."""

    seconds: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, asyncio.get_running_loop().time() + seconds)

    def remaining(self) -> float:
        return self.at - asyncio.get_running_loop().time()

    def exceeded(self, action: str, url: str) -> giterrors.GitTimeout:
        return giterrors.GitTimeout(
            f"timed out after {self.seconds:g}s trying to {action} {url}: git was"
            " stopped (check that the host answers, or raise the timeout)"
        )


class Session:
    """The environment of git calls against one remote: `async with Session(...) as s`."""

    def __init__(self, remote: giturl.RemoteURL, auth: Auth | None = None):
        self.remote = remote
        self.auth = auth or Auth()
        self.home = Path()
        self.env: dict[str, str] = {}
        self._secrets = self.auth.secrets() + ([remote.password] if remote.password else [])

    async def __aenter__(self) -> Session:
        self.home = Path(tempfile.mkdtemp(prefix="kidp-git-"))
        try:
            self.env = self._environment()
            if self.remote.is_ssh and self.auth.identity:
                await self._write_identity(self.auth.identity, self.auth.password)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, self.home, ignore_errors=True)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        background.discard(self.home)

    @property
    def has_credentials(self) -> bool:
        return bool(self.auth.password or self.auth.bearer_token or self.remote.password)

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _write(self, name: str, content: str | bytes, mode: int = 0o600) -> Path:
        path = self.home / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        return path

    def _environment(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
        env.setdefault("PATH", "/usr/bin:/bin")
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            GIT_ALLOW_PROTOCOL="http:https:ssh",
            GIT_LITERAL_PATHSPECS="1",
            LC_ALL="C",
            LANG="C",
            KIDP_GIT_CREDENTIALS=str(self.home),
            GIT_ASKPASS=str(self._write("askpass", ASKPASS, 0o700)),
            GIT_SSH_COMMAND=self._ssh_command(),
            GIT_SSH_VARIANT="ssh",
        )
        if self.remote.is_ssh:
            return env
        # Without these files the askpass script fails, and git says it has no credentials.
        username = self.remote.username or self.auth.username
        password = self.remote.password or self.auth.password
        if username:
            self._write("username", username + "\n")
        if password:
            self._write("password", password + "\n")
        if self.auth.ca_cert:
            bundle = with_system_roots(self.auth.ca_cert)
            env["GIT_SSL_CAINFO"] = str(self._write("ca.crt", bundle))
        if self.auth.client_cert and self.auth.client_key:
            env["GIT_SSL_CERT"] = str(self._write("tls.crt", self.auth.client_cert))
            env["GIT_SSL_KEY"] = str(self._write("tls.key", self.auth.client_key))
        if self.auth.bearer_token:
            token = self.auth.bearer_token.replace("\\", "\\\\").replace('"', '\\"')
            self._write(
                ".gitconfig",
                f'[http "{self.remote.url}"]\n\textraHeader = "Authorization: Bearer {token}"\n',
            )
        return env

    def _ssh_command(self) -> str:
        # The identity file exists only once `_write_identity` wrote it; ssh skips it if not.
        options = {
            "UserKnownHostsFile": self._write("known_hosts", self.auth.known_hosts or ""),
            "GlobalKnownHostsFile": "/dev/null",
            "StrictHostKeyChecking": "yes",
            "IdentitiesOnly": "yes",
            "BatchMode": "yes",
            "UpdateHostKeys": "no",
            "ControlMaster": "no",
            "ControlPath": "none",
        }
        args = ["ssh", "-F", "/dev/null", "-i", str(self.home / "identity")]
        for name, value in options.items():
            args += ["-o", f"{name}={value}"]
        return shlex.join(args)

    async def _write_identity(self, key: bytes, passphrase: str | None) -> None:
        """Write the SSH key, decrypted when it has a passphrase: ssh runs in BatchMode,
        which never asks. `ssh-keygen -p` decrypts it in place, reading the passphrase
        through the askpass script (never from its command line)."""
        identity = self._write("identity", key if key.endswith(b"\n") else key + b"\n")
        if not passphrase:
            return
        self._write("passphrase", passphrase + "\n")
        env = {
            **self.env,
            "SSH_ASKPASS": self.env["GIT_ASKPASS"],
            "SSH_ASKPASS_REQUIRE": "force",
            "DISPLAY": ":0",
        }
        deadline = Deadline.after(30)
        code, _, err = await _execute(
            ["ssh-keygen", "-q", "-p", "-N", "", "-f", str(identity)], env, None, deadline
        )
        if code == 0:
            return
        if "not encrypted" in err or "no passphrase" in err:
            return  # a passphrase was given for a key that has none: use the key as it is
        cause = "the passphrase is wrong" if "passphrase" in err else "it is not a private key"
        raise giterrors.AuthenticationFailed(
            f"cannot use the SSH identity for {self.remote.url}: {cause}"
            " (check `identity` and `password` in the secret)"
        )

    async def run(
        self,
        args: list[str],
        deadline: Deadline,
        action: str,
        cwd: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> str:
        """Run `git <args>`; its stdout, or the classified error (scrubbed).

        Past the `deadline` git is killed and GitTimeout raised. `action` words the
        error ("list refs of", "fetch from").
        """
        env = self.env if extra_env is None else {**self.env, **extra_env}
        try:
            code, out, err = await _execute(["git", *args], env, cwd, deadline)
        except TimeoutError:
            raise deadline.exceeded(action, self.remote.url) from None
        if code != 0:
            raise giterrors.classify(
                self.scrub(err),
                action,
                self.remote.url,
                self.remote.hostport,
                self.has_credentials,
            )
        return out


async def _execute(
    args: list[str], env: dict[str, str], cwd: Path | None, deadline: Deadline
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a program; TimeoutError past the deadline, when it
    and everything it started (ssh, remote helpers: they share its group) are killed."""
    try:
        done = await run(args, env=env, cwd=cwd, timeout=deadline.remaining())
    except TimedOut:
        raise TimeoutError from None
    return done.code, done.text(), done.stderr
