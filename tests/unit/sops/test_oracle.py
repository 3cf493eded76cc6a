"""The native decryptor against the real sops program: for each file format, with age
and PGP keys, the same plaintext; for a wrong key or a tampered file, the same kind of
refusal. The program is the oracle; the engine runs the native decryptor."""

from __future__ import annotations

import configparser
import json
from collections.abc import Callable
from typing import Any

import pytest

from kidp_gitops import sops
from kidp_gitops.sops import Decryptor, native
from kidp_gitops.sops.fileformat import FileFormat
from kidp_gitops.sops.program import Program
from tests.unit.sops.conftest import AgeKey, PgpKey, Sops
from tests.unit.sops.test_documents import SECRET, _flip, age_keyring, load, pgp_keyring
from tests.unit.sops.test_files import DOTENV, JSON_FILE

INI = "[database]\nuser = admin\npassword = s3cr3t\n\n[cache]\nttl = 30\n"
FILES: dict[FileFormat, tuple[str, str]] = {
    "yaml": ("secret.yaml", SECRET),
    "json": ("app.json", json.dumps(JSON_FILE)),
    "dotenv": ("app.env", DOTENV),
    "ini": ("app.ini", INI),
    "binary": ("blob.bin", "raw\x00bytes, not parsed\n"),
}
ORACLE = Program.from_wheel()
DECRYPTORS: list[Decryptor] = [native, ORACLE]


def meaning(format: FileFormat, data: object) -> Any:
    """What a plaintext says, not how it is laid out: the program writes YAML with four
    spaces and double quotes where we write two and single, and keeps a dotenv file's
    comments, which kustomize's env reader skips and we drop."""
    assert isinstance(data, bytes), data
    text = data.decode()
    if format in ("yaml", "json"):
        return [load(data)] if format == "yaml" else json.loads(text)
    if format == "dotenv":
        return [line for line in text.splitlines() if line and not line.startswith("#")]
    if format == "ini":
        parser = configparser.ConfigParser()
        parser.read_string(text)
        return {name: dict(parser[name]) for name in parser.sections()}
    return data


def both(decrypt: Callable[[Decryptor], object]) -> list[object]:
    """What each decryptor gives, or the class of the error it raises."""
    out: list[object] = []
    for decryptor in DECRYPTORS:
        try:
            out.append(decrypt(decryptor))
        except sops.DecryptionError as err:
            out.append(type(err))
    return out


@pytest.mark.parametrize("format", list(FILES))
def test_same_plaintext_with_age(
    format: FileFormat, sops_cli: Sops, age_keys: list[AgeKey]
) -> None:
    name, content = FILES[format]
    args = ["--input-type", "binary"] if format == "binary" else []
    encrypted = sops_cli.encrypt(content, name, age=[age_keys[0].recipient], args=args)
    keyring = age_keyring(age_keys[0])
    mine, oracle = both(lambda d: d.decrypt_file(encrypted, format, keyring, source=name))
    assert meaning(format, mine) == meaning(format, oracle)


def test_same_plaintext_with_pgp(sops_pgp: Sops, pgp_keys: list[PgpKey]) -> None:
    encrypted = sops_pgp.encrypt(DOTENV, "app.env", pgp=[pgp_keys[1].fingerprint])
    keyring = pgp_keyring(pgp_keys[1])
    mine, oracle = both(lambda d: d.decrypt_file(encrypted, "dotenv", keyring, source="app.env"))
    assert meaning("dotenv", mine) == meaning("dotenv", oracle)


def test_same_document(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    encrypted = sops_cli.encrypt(json.dumps(JSON_FILE), "app.json", age=[age_keys[0].recipient])
    keyring = age_keyring(age_keys[0])
    doc = json.loads(encrypted)
    mine, oracle = both(lambda d: d.decrypt_document(doc, keyring, source="app.json"))
    assert mine == oracle == JSON_FILE


def test_same_refusals(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    encrypted = sops_cli.encrypt(DOTENV, "app.env", age=[age_keys[0].recipient])
    wrong = age_keyring(age_keys[1])
    assert both(lambda d: d.decrypt_file(encrypted, "dotenv", wrong, source="app.env")) == [
        sops.NoMatchingKey,
        sops.NoMatchingKey,
    ]

    lines = encrypted.decode().splitlines(keepends=True)
    mac = next(i for i, line in enumerate(lines) if line.startswith("sops_mac="))
    lines[mac] = "sops_mac=" + _flip(lines[mac].removeprefix("sops_mac=").strip()) + "\n"
    tampered = "".join(lines).encode()
    keyring = age_keyring(age_keys[0])
    assert both(lambda d: d.decrypt_file(tampered, "dotenv", keyring, source="app.env")) == [
        sops.MacMismatch,
        sops.MacMismatch,
    ]
