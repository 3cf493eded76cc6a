"""The workload identity ConfigMap of `spec.kubeConfig.configMapRef`, read as Flux reads
it: the address in Flux's canonical form, the audiences one per line (the address as
written when none), and every provider but `generic` refused by name."""

from __future__ import annotations

import pytest

from kidp_gitops.api import kubeconfigmap

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def parse(**data: str) -> kubeconfigmap.Settings:
    return kubeconfigmap.parse("apps/kc", data)


def test_generic_with_every_key() -> None:
    settings = parse(
        provider="generic",
        address="https://API.example.com:6443",
        audiences="one\n\n  two  \n",
        serviceAccountName="apps-sa",
        **{"ca.crt": PEM},
    )
    assert settings.address == "https://api.example.com:6443"
    assert settings.audiences == ("one", "two")
    assert settings.ca == PEM.strip().encode()
    assert settings.service_account == "apps-sa"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("api.example.com", "https://api.example.com:443"),
        ("https://api.example.com", "https://api.example.com:443"),
        ("https://127.0.0.1:6443/some/path", "https://127.0.0.1:6443"),
        ("[::1]:6443", "https://[::1]:6443"),
    ],
)
def test_the_address_as_flux_canonicalizes_it(written: str, canonical: str) -> None:
    assert kubeconfigmap.canonical_address(written, "x") == canonical


def test_without_audiences_the_address_as_written_is_the_audience() -> None:
    settings = parse(provider="generic", address="api.example.com", audiences="\n")
    assert settings.audiences == ("api.example.com",)
    assert settings.ca is None
    assert settings.service_account is None


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp"])
def test_a_cloud_provider_is_refused_by_name(provider: str) -> None:
    with pytest.raises(kubeconfigmap.Unsupported) as refused:
        parse(provider=provider, cluster="arn:aws:eks:eu-central-1:1:cluster/c")
    assert f"kubeConfig ConfigMap 'apps/kc' sets provider '{provider}'" in str(refused.value)
    assert "not implemented" in str(refused.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({}, "has no 'provider' key"),
        ({"provider": "vault"}, "sets provider 'vault', which is none of aws, azure, gcp"),
        ({"provider": "generic"}, "has no 'address' key, which provider 'generic' requires"),
        ({"provider": "generic", "address": "http://api:80"}, "'address' that is not https"),
        ({"provider": "generic", "address": "https://u:p@api"}, "with credentials"),
        ({"provider": "generic", "address": "https://api:x"}, "'address' that is not a URL"),
        ({"provider": "generic", "address": "api", "ca.crt": "junk"}, "not a PEM certificate"),
        (
            {
                "provider": "generic",
                "address": "api",
                "serviceAccountName": "../../kube-system/serviceaccounts/x",
            },
            "'serviceAccountName' that is not a service account name",
        ),
    ],
)
def test_what_cannot_be_used_is_said(data: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        kubeconfigmap.parse("apps/kc", data)
    assert "p@" not in str(caught.value)  # never the credentials of the address
