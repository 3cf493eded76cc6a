"""Keyrings built from a decryption Secret's data, as Flux reads `spec.decryption.secretRef`."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from kidp_gitops import sops
from kidp_gitops.proc import run as proc
from tests.unit.sops.conftest import AgeKey, PgpKey, Sops
from tests.unit.sops.test_documents import SECRET, load


def test_agekey_with_comments_and_several_identities(
    sops_cli: Sops, age_keys: list[AgeKey]
) -> None:
    text = (
        f"# created: 2024-01-01T00:00:00Z\n# public key: {age_keys[0].recipient}\n"
        f"{age_keys[0].identity}\n\n   \n# public key: {age_keys[1].recipient}\n"
        f"{age_keys[1].identity}\r\n"
    )
    keyring = sops.Keyring.from_secret_data(
        {"identity.agekey": text.encode(), "sops.vault-token": b"ignored", "README": "x"}
    )
    assert keyring.age_recipients == (age_keys[0].recipient, age_keys[1].recipient)
    assert keyring.pgp_fingerprints == ()
    encrypted = sops_cli.encrypt(SECRET, "s.yaml", age=[age_keys[1].recipient])
    assert sops.decrypt_document(load(encrypted), keyring, source="s.yaml")["kind"] == "Secret"


def test_keyring_accepts_text_values(age_keys: list[AgeKey]) -> None:
    keyring = sops.Keyring.from_secret_data({"a.agekey": age_keys[2].identity})
    assert keyring.age_recipients == (age_keys[2].recipient,)


@pytest.mark.parametrize(
    "content",
    ["# only a comment\n", "", "AGE-SECRET-KEY-1NOTAKEY\n", "AGE-PLUGIN-YUBIKEY-1ABC\n"],
)
def test_unusable_agekey(content: str) -> None:
    with pytest.raises(sops.KeyringError) as caught:
        sops.Keyring.from_secret_data({"bad.agekey": content.encode()})
    assert caught.value.source == "bad.agekey"
    assert "AGE-" not in str(caught.value)


def test_pgp_key_fingerprint_and_repr(pgp_keys: list[PgpKey], age_keys: list[AgeKey]) -> None:
    keyring = sops.Keyring.from_secret_data(
        {"sops.asc": pgp_keys[0].armored_secret, "age.agekey": age_keys[0].identity.encode()}
    )
    assert keyring.pgp_fingerprints == (pgp_keys[0].fingerprint,)
    text = repr(keyring)
    assert pgp_keys[0].fingerprint in text
    assert age_keys[0].recipient in text
    assert "AGE-SECRET-KEY" not in text
    assert "PRIVATE" not in text


def test_unusable_asc(gnupg_home: Path, pgp_keys: list[PgpKey]) -> None:
    public = subprocess.run(
        ["gpg", "--homedir", str(gnupg_home), "--batch", "--armor", "--export"],
        capture_output=True,
        check=True,
    ).stdout
    for content in (b"not a key", public):
        with pytest.raises(sops.KeyringError, match=r"^pub\.asc: .*secret key"):
            sops.Keyring.from_secret_data({"pub.asc": content})


def test_gnupg_home_is_private_and_removed(sops_pgp: Sops, pgp_keys: list[PgpKey]) -> None:
    encrypted = sops_pgp.encrypt(
        SECRET, "s.yaml", pgp=[pgp_keys[1].fingerprint, pgp_keys[0].fingerprint]
    )
    keyring = sops.Keyring.from_secret_data({"k.asc": pgp_keys[0].armored_secret})
    homes: dict[str, int] = {}

    def spy(argv: Sequence[str]) -> Sequence[str]:
        if Path(argv[0]).name == "gpg":
            home = argv[argv.index("--homedir") + 1]
            homes[home] = os.stat(home).st_mode & 0o777
        return argv

    with proc.substituted(spy):
        plain = sops.decrypt_document(load(encrypted), keyring, source="s.yaml")
    assert plain["metadata"]["name"] == "db-credentials"
    assert len(homes) == 1
    assert set(homes.values()) == {0o700}
    (home,) = homes
    assert not Path(home).exists()
    assert agent_gone(home)  # its gpg-agent was stopped


def agent_gone(home: str, within: float = 10.0) -> bool:
    """Whether no process names `home` within `within` seconds: `gpgconf --kill` asks the
    agent to end and returns before it has, so on a loaded machine it lingers a moment."""
    deadline = time.monotonic() + within
    while True:
        running = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        if home not in running:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
