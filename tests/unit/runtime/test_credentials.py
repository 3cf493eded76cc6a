"""The keys of a credentials Secret, as Flux's runtime/secrets reads them: Kubernetes TLS
keys first, the older caFile/certFile/keyFile second (for a GitRepository only caFile,
as Flux's git package); pairs complete; errors that name the Secret and never a value."""

from __future__ import annotations

import base64
import logging
import ssl

import pytest

from kidp_gitops.runtime import credentials
from tests.gitserver.keys import self_signed_certificate

WHERE = "team/tls"


def test_kubernetes_keys_win_over_the_older_ones(caplog: pytest.LogCaptureFixture) -> None:
    tls = credentials.tls_data({"ca.crt": b"new", "caFile": b"old"}, WHERE)
    assert tls.ca == b"new"
    with caplog.at_level(logging.WARNING):
        old = credentials.tls_data(
            {"caFile": "PEM1", "certFile": b"PEM2", "keyFile": b"PEM3"}, WHERE
        )
    assert (old.ca, old.cert, old.key) == (b"PEM1", b"PEM2", b"PEM3")
    assert "deprecated key 'caFile'" in caplog.text
    assert "PEM" not in caplog.text


def test_a_git_secret_reads_only_the_older_ca_file() -> None:
    """fluxcd/pkg git.NewAuthOptions: `ca.crt`, else `caFile`; `tls.crt` and `tls.key`."""
    old = {"caFile": b"CA", "certFile": b"CERT", "keyFile": b"KEY"}
    git = credentials.tls_data(old, WHERE, legacy=credentials.LEGACY_GIT)
    assert (git.ca, git.cert, git.key) == (b"CA", None, None)
    new = {"ca.crt": b"CA2", "tls.crt": b"CERT2", "tls.key": b"KEY2"}
    git = credentials.tls_data({**old, **new}, WHERE, legacy=credentials.LEGACY_GIT)
    assert (git.ca, git.cert, git.key) == (b"CA2", b"CERT2", b"KEY2")
    # The same Secret under a certSecretRef reads all three older names.
    helm = credentials.tls_data(old, WHERE)
    assert (helm.ca, helm.cert, helm.key) == (b"CA", b"CERT", b"KEY")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tls.crt": b"c"}, "holds 'tls.crt' but no 'tls.key'"),
        ({"keyFile": b"k"}, "holds 'tls.key' but no 'tls.crt'"),
        ({"tls.crt": b"c", "tls.key": b""}, "holds 'tls.crt' but no 'tls.key'"),
    ],
)
def test_a_certificate_comes_with_its_key(data: dict[str, bytes], message: str) -> None:
    with pytest.raises(credentials.CredentialsError, match=message) as err:
        credentials.tls_data(data, WHERE)
    assert WHERE in str(err.value)


def test_a_cert_secret_must_hold_something() -> None:
    assert not credentials.tls_data({"username": b"u"}, WHERE)
    with pytest.raises(credentials.CredentialsError, match=r"must hold 'ca\.crt', or both"):
        credentials.from_secret({}, WHERE, system_roots=True)
    assert credentials.from_secret({}, WHERE, system_roots=True, required=False) is None


def test_tls_context_trusts_the_ca_and_presents_the_client_certificate() -> None:
    cert = self_signed_certificate()
    data = {"ca.crt": cert.cert, "tls.crt": cert.cert, "tls.key": cert.key}
    extend = credentials.from_secret(data, WHERE, system_roots=True)
    replace = credentials.from_secret(data, WHERE, system_roots=False)
    assert isinstance(extend, ssl.SSLContext)
    assert isinstance(replace, ssl.SSLContext)
    # Our CA alone, or our CA besides the system's roots (where the system has any).
    assert replace.cert_store_stats()["x509_ca"] == 1
    assert extend.cert_store_stats()["x509_ca"] >= 1
    assert extend.verify_mode == ssl.CERT_REQUIRED
    assert extend.check_hostname


def test_unusable_tls_data_names_the_secret_not_the_data() -> None:
    with pytest.raises(credentials.CredentialsError) as err:
        credentials.from_secret({"ca.crt": b"not a pem s3cret"}, WHERE, system_roots=False)
    assert str(err.value).startswith(f"the TLS data in secret '{WHERE}' is not usable")
    assert "s3cret" not in str(err.value)


def test_basic_auth_needs_both_halves() -> None:
    auth = credentials.basic_auth({"username": b"bot", "password": b"p\xc3\xa4ss"}, WHERE)
    assert auth == credentials.BasicAuth("bot", "päss")
    assert "päss" not in repr(auth)
    assert auth is not None
    assert base64.b64decode(auth.header().removeprefix("Basic ")) == "bot:päss".encode()
    assert credentials.basic_auth({}, WHERE) is None
    with pytest.raises(credentials.CredentialsError, match="both 'username' and 'password'"):
        credentials.basic_auth({"username": "bot"}, WHERE)


def test_bearer_token() -> None:
    assert credentials.bearer_token({"bearerToken": b" t0ken\n"}, WHERE) == "t0ken"
    assert credentials.bearer_token({"token": "x"}, WHERE, key="token") == "x"
    assert credentials.bearer_token({"bearerToken": b"  "}, WHERE) is None
    assert credentials.bearer_token({}, WHERE) is None
    assert credentials.bearer_header("t") == "Bearer t"
