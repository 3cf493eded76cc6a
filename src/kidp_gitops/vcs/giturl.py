"""Remote URLs as Flux accepts them: http, https and ssh, never scp-like addresses.

A password written into a URL (`https://user:pass@host/repo`) is taken out of it: git
gets the URL without it (so it is never on a command line) and the password goes to
the credential files of `gitenv`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from kidp_gitops.vcs import giterrors

SCHEMES = ("http", "https", "ssh")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>(?!//).*)$")


@dataclass(frozen=True)
class RemoteURL:
    """A parsed remote. `url` has no password: it is what git is given and what people see."""

    url: str
    scheme: str
    host: str
    port: int | None
    username: str | None
    password: str | None = field(default=None, repr=False)

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host

    @property
    def is_ssh(self) -> bool:
        return self.scheme == "ssh"


def parse(raw: str) -> RemoteURL:
    """Validate `raw`; raise giterrors.InvalidURL with what to write instead."""
    text = raw.strip()
    if not text:
        raise giterrors.InvalidURL("the repository URL is empty")
    if "://" not in text:
        scp = _SCP_LIKE.match(text)
        if scp and "/" not in scp["host"]:
            user = f"{scp['user']}@" if scp["user"] else ""
            path = scp["path"].lstrip("/")
            raise giterrors.InvalidURL(
                f"'{_redact(text)}' is an scp-like address, which is not supported:"
                f" use ssh://{user}{scp['host']}/{path}"
            )
        raise giterrors.InvalidURL(
            f"'{_redact(text)}' is not a URL: use http://, https:// or ssh://"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as err:
        raise giterrors.InvalidURL(f"'{_redact(text)}' is not a valid URL: {err}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise giterrors.InvalidURL(
            f"URL scheme '{scheme}' is not supported in '{_redact(text)}':"
            " use http://, https:// or ssh://"
        )
    if not parts.hostname:
        raise giterrors.InvalidURL(f"'{_redact(text)}' has no host")
    if scheme == "ssh" and ":" in parts.netloc.rpartition("@")[2] and port is None:
        raise giterrors.InvalidURL(f"'{_redact(text)}' has an empty port")
    if any(c in text for c in "\n\r\0 "):
        raise giterrors.InvalidURL(f"'{_redact(text)}' contains whitespace or control characters")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    clean = urlunsplit((scheme, netloc, parts.path, parts.query, ""))
    return RemoteURL(clean, scheme, parts.hostname, port, username, password)


def resolve_relative(base: str, relative: str) -> str:
    """A submodule URL like `../lib.git` resolved against the superproject's URL, the way
    git does: each `../` drops one path component of the base, `./` drops none."""
    if not relative.startswith(("./", "../")):
        return relative
    parts = urlsplit(base)
    path = parts.path.rstrip("/")
    rest = relative
    while True:
        if rest.startswith("./"):
            rest = rest[2:]
        elif rest.startswith("../"):
            path = path.rpartition("/")[0]
            rest = rest[3:]
        else:
            break
    joined = f"{path}/{rest}" if rest else path
    return urlunsplit((parts.scheme, parts.netloc, joined, "", ""))


def _redact(text: str) -> str:
    return re.sub(r"(://[^/@:\s]*):[^/@\s]*@", r"\1:***@", text)
