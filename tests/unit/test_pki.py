"""The throwaway PKI: what the API server and its clients will check."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kidp_gitops.devcluster import pki


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_serving_certificate_covers_every_address_a_client_uses(tmp_path: Path) -> None:
    certs = pki.create(tmp_path, {})
    serving = load(certs.serving_cert)
    serving.verify_directly_issued_by(load(certs.ca_cert))
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "kubernetes.default.svc"} <= set(sans.get_values_for_type(x509.DNSName))
    ips = set(sans.get_values_for_type(x509.IPAddress))
    assert {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
        ipaddress.ip_address(pki.KUBERNETES_SERVICE_IP),
    } <= ips
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_client_certificate_carries_user_and_groups(tmp_path: Path) -> None:
    certs = pki.create(tmp_path, {"alice": ["system:masters", "devs"]})
    cert = load(certs.client_cert("alice"))
    cert.verify_directly_issued_by(load(certs.ca_cert))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:masters", "devs"]
    # The key matches the certificate: TLS accepts the pair.
    ssl.create_default_context().load_cert_chain(
        certs.client_cert("alice"), certs.client_key("alice")
    )


def test_private_keys_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    certs = pki.create(tmp_path / "pki", {"alice": []})
    for key in (certs.ca_key, certs.serving_key, certs.sa_key, certs.client_key("alice")):
        assert key.stat().st_mode & 0o077 == 0, key
    assert (tmp_path / "pki").stat().st_mode & 0o077 == 0
