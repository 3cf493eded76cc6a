"""Throwaway SSH keys (ed25519) in the formats OpenSSH reads, a TLS certificate, and the
TLS context of the tests' HTTPS servers."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KeyPair:
    """An SSH key pair: the private key as an OpenSSH key file, the public key as one
    `ssh-ed25519 AAAA...` line (what authorized_keys and known_hosts hold)."""

    private_key: bytes = field(repr=False)
    public_key: str


def generate_keypair(passphrase: str | None = None) -> KeyPair:
    """A new key pair; with `passphrase`, the private key is encrypted with it (by
    ssh-keygen, since `cryptography` needs bcrypt for that)."""
    if passphrase:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "key"
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", path],
                check=True,
                stdin=subprocess.DEVNULL,
            )
            return KeyPair(path.read_bytes(), path.with_suffix(".pub").read_text().strip())
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return KeyPair(private_key=private, public_key=public.decode())


@dataclass(frozen=True)
class Certificate:
    """A self-signed TLS certificate for 127.0.0.1, in PEM: it is its own CA."""

    cert: bytes
    key: bytes = field(repr=False)


def self_signed_certificate(ip: str = "127.0.0.1") -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kidp-gitops test git")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def server_tls(certificate: Certificate, client: Certificate | None = None) -> ssl.SSLContext:
    """A server's TLS context presenting `certificate`; with `client`, it accepts only
    clients that present that certificate (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:  # the ssl module loads a key from a file
        cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert.write_bytes(certificate.cert)
        key.write_bytes(certificate.key)
        context.load_cert_chain(cert, key)
    if client is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client.cert.decode())
    return context
