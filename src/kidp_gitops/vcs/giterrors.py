"""What can go wrong talking to a git remote, as errors a person can act on.

    GitError                       reason GitOperationFailed (anything not below)
    ├── InvalidURL                 reason URLInvalid; stalled: fix the URL
    ├── InvalidRef                 stalled: fix spec.ref (bad commit id, bad semver range)
    ├── AuthenticationFailed       reason AuthenticationFailed: wrong key, password, token
    │   └── HostKeyVerificationFailed   the server's key is unknown or changed
    ├── RepositoryNotFound         the URL names no repository (or it is hidden from us)
    ├── RefNotFound                branch, tag, name, commit, semver match, or path missing
    ├── Unreachable                refused, unresolvable, no route
    ├── TLSVerificationFailed      the https server's certificate is not trusted
    └── GitTimeout                 the call ran past its deadline; git was killed

Each class carries the Flux condition reason (`reason`) and whether retrying can help
before someone changes the spec (`stalled`). Messages never hold credentials: the
command runner scrubs git's output before it reaches `classify`, and URLs are shown
without their password.
"""

from __future__ import annotations

import re
from typing import ClassVar

GIT_OPERATION_FAILED = "GitOperationFailed"
AUTHENTICATION_FAILED = "AuthenticationFailed"
URL_INVALID = "URLInvalid"


class GitError(Exception):
    """A git operation failed; `str(err)` is the one-line message for status and events."""

    reason: ClassVar[str] = GIT_OPERATION_FAILED
    stalled: ClassVar[bool] = False


class InvalidURL(GitError):
    reason = URL_INVALID
    stalled = True


class InvalidRef(GitError):
    stalled = True


class AuthenticationFailed(GitError):
    reason = AUTHENTICATION_FAILED


class HostKeyVerificationFailed(AuthenticationFailed):
    pass


class RepositoryNotFound(GitError):
    pass


class RefNotFound(GitError):
    pass


class Unreachable(GitError):
    pass


class TLSVerificationFailed(GitError):
    pass


class GitTimeout(GitError):
    pass


# Patterns over git's (and ssh's) stderr, in LC_ALL=C, checked in this order.
_HOST_KEY_CHANGED = re.compile(
    r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed"
)
_HOST_KEY_UNKNOWN = re.compile(r"No \S+ host key is known for|Host key verification failed")
_AUTH = re.compile(
    r"Permission denied \(|Authentication failed for|could not read (Username|Password)"
    r"|requested URL returned error: 40[13]|Too many authentication failures"
    r"|Load key .*: (incorrect passphrase|invalid format|error in libcrypto)"
)
_NOT_FOUND = re.compile(
    r"repository '[^']*' not found|does not appear to be a git repository"
    r"|requested URL returned error: 404|not a git repository"
)
_UNREACHABLE = re.compile(
    r"Connection refused|Could not resolve host|Could not resolve hostname"
    r"|Failed to connect to|Network is unreachable|No route to host|Connection timed out"
    r"|Couldn't connect to server|Connection closed by|Connection reset by"
    r"|kex_exchange_identification"
)
_TLS = re.compile(r"SSL certificate problem|server certificate verification failed")
_NOISE = re.compile(
    r"^(hint:|warning: redirecting|\s*$"
    r"|error: unable to read askpass response"  # names a temporary path; says nothing new
    r"|fatal: Could not read from remote repository"  # ssh's boilerplate after the cause
    r"|Please make sure you have the correct access rights|and the repository exists)"
)


def last_lines(stderr: str, lines: int = 3) -> str:
    """The useful tail of git's stderr, on one line."""
    kept = [line.strip() for line in stderr.splitlines() if not _NOISE.match(line)]
    return "; ".join(kept[-lines:]) or "no output"


def classify(stderr: str, action: str, url: str, host: str, credentials: bool) -> GitError:
    """The error for a failed git call. `stderr` must already be scrubbed of secrets;
    `action` says what we tried ("list refs of", "fetch from"); `url` is for display;
    `credentials` whether any were offered."""
    detail = last_lines(stderr)
    if _HOST_KEY_CHANGED.search(stderr):
        return HostKeyVerificationFailed(
            f"host key verification failed for {host}: the key the server presented does"
            " not match known_hosts (the server's key changed, or the connection is"
            " intercepted); update known_hosts only if you trust the new key"
        )
    if _HOST_KEY_UNKNOWN.search(stderr):
        return HostKeyVerificationFailed(
            f"host key verification failed for {host}: known_hosts has no key for this"
            " server; add its key (e.g. the output of `ssh-keyscan`) to known_hosts"
        )
    if _AUTH.search(stderr):
        return AuthenticationFailed(
            f"authentication to {url} failed: {_auth_hint(stderr, credentials)} ({detail})"
        )
    if _NOT_FOUND.search(stderr):
        return RepositoryNotFound(
            f"repository not found at {url}: check the URL, and that the credentials"
            f" can read it ({detail})"
        )
    if _TLS.search(stderr):
        return TLSVerificationFailed(
            f"the TLS certificate of {host} is not trusted: add the certificate authority"
            f" that signed it to the secret as ca.crt ({detail})"
        )
    if _UNREACHABLE.search(stderr):
        return Unreachable(f"cannot reach {host} to {action} {url}: {detail}")
    if "couldn't find remote ref" in stderr or "not our ref" in stderr:
        return RefNotFound(f"reference not found in {url}: {detail}")
    return GitError(f"failed to {action} {url}: {detail}")


def _auth_hint(stderr: str, credentials: bool) -> str:
    if "incorrect passphrase" in stderr:
        return "the SSH key's passphrase is wrong"
    if "Load key" in stderr:
        return "the SSH identity is not a valid private key"
    if "Permission denied (" in stderr:
        return "the server rejected the SSH key (check the identity and that it is authorized)"
    if "could not read" in stderr and not credentials:
        return "the server asks for credentials and none were given"
    if "error: 403" in stderr:
        return "the credentials are not allowed to access this repository (HTTP 403)"
    return "the server rejected the username/password or token (HTTP 401)"
