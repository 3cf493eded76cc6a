"""Files a secretGenerator reads (dotenv, JSON, INI, YAML, binary), encrypted by real sops."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from kidp_gitops import sops
from kidp_gitops.sops import fileformat
from tests.unit.sops.conftest import AgeKey, PgpKey, Sops
from tests.unit.sops.test_documents import PLAINTEXT, age_keyring, pgp_keyring

DOTENV = f"""\
# database credentials
DB_USER=admin
DB_PASSWORD={PLAINTEXT}
DSN=postgres://admin@db/app?sslmode=require&x=1
CERT=line one\\nline two
EMPTY=
"""

JSON_FILE = {
    "user": "admin",
    "password": PLAINTEXT,
    "port": 5432,
    "ratio": 2.5,
    "tls": True,
    "replicas": [1, "two", None, False],
    "nested": {"deep": {"token": "abc"}, "note_unencrypted": "in clear"},
    "empty": "",
}


def test_dotenv(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    encrypted = sops_cli.encrypt(DOTENV, "app.env", age=[age_keys[0].recipient])
    assert PLAINTEXT.encode() not in encrypted
    assert fileformat.has_sops_marker(encrypted, "dotenv")
    out = sops.decrypt_file(encrypted, "dotenv", age_keyring(age_keys[0]), source="app.env")
    assert out.decode() == DOTENV.partition("\n")[2]  # everything but the comment


def test_dotenv_with_pgp(sops_pgp: Sops, pgp_keys: list[PgpKey]) -> None:
    encrypted = sops_pgp.encrypt(DOTENV, "app.env", pgp=[pgp_keys[0].fingerprint])
    out = sops.decrypt_file(encrypted, "dotenv", pgp_keyring(pgp_keys[0]), source="app.env")
    assert f"DB_PASSWORD={PLAINTEXT}\n" in out.decode()


def test_dotenv_tampered(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    encrypted = sops_cli.encrypt(DOTENV, "app.env", age=[age_keys[0].recipient])
    lines = encrypted.decode().splitlines(keepends=True)
    user = next(i for i, line in enumerate(lines) if line.startswith("DB_USER="))
    password = next(i for i, line in enumerate(lines) if line.startswith("DB_PASSWORD="))
    lines[user] = "DB_USER=" + lines[password].partition("=")[2]
    with pytest.raises(sops.MacMismatch, match="DB_USER"):
        sops.decrypt_file(
            "".join(lines).encode(), "dotenv", age_keyring(age_keys[0]), source="app.env"
        )


def test_json(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    encrypted = sops_cli.encrypt(json.dumps(JSON_FILE), "app.json", age=[age_keys[0].recipient])
    document = json.loads(encrypted)
    assert document["nested"]["note_unencrypted"] == "in clear"
    assert fileformat.looks_encrypted(document["port"])
    keyring = age_keyring(age_keys[0])
    out = sops.decrypt_file(encrypted, "json", keyring, source="app.json")
    assert json.loads(out) == JSON_FILE
    assert b'"port": 5432,' in out  # written as sops writes it, not 5432.0
    assert sops.decrypt_document(document, keyring, source="app.json") == JSON_FILE


def test_json_secret_document(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "apps"},
        "stringData": {"password": PLAINTEXT},
        "data": {"token": "dG9rZW4="},
    }
    encrypted = sops_cli.encrypt(
        json.dumps(secret),
        "secret.json",
        age=[age_keys[0].recipient],
        args=["--encrypted-regex", "^(data|stringData)$"],
    )
    document = json.loads(encrypted)
    assert document["metadata"] == secret["metadata"]
    assert sops.decrypt_document(document, age_keyring(age_keys[0]), source="s") == secret


def test_ini(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    content = f"[database]\nuser = admin\npassword = {PLAINTEXT}\n\n[cache]\nurl = redis://c:6379\n"
    encrypted = sops_cli.encrypt(content, "app.ini", age=[age_keys[0].recipient])
    assert b"[sops]" in encrypted
    out = sops.decrypt_file(encrypted, "ini", age_keyring(age_keys[0]), source="app.ini")
    assert fileformat.load_ini(out) == fileformat.load_ini(content.encode())
    assert out.decode().startswith("[database]\nuser     = admin\n")  # aligned, as sops -d


def test_binary(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    content = os.urandom(512) + PLAINTEXT.encode()
    encrypted = sops_cli.encrypt(
        content, "blob.bin", age=[age_keys[0].recipient], args=["--input-type", "binary"]
    )
    keyring = age_keyring(age_keys[0])
    assert sops.decrypt_file(encrypted, "binary", keyring, source="blob.bin") == content


def test_multi_document_yaml(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    content = "a: 1\nsecret: one\n---\nb: two\nlist: [x, 3.5]\n"
    encrypted = sops_cli.encrypt(content, "multi.yaml", age=[age_keys[0].recipient])
    out = sops.decrypt_file(encrypted, "yaml", age_keyring(age_keys[0]), source="multi.yaml")
    assert list(yaml.safe_load_all(out)) == list(yaml.safe_load_all(content))


def test_yaml_file_keeps_sops_scalar_forms(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    content = "when: 2024-01-01\nversion: '1.10'\nanswer: yes\nhex: 0x1F\nbig: 1e+21\n"
    encrypted = sops_cli.encrypt(content, "v.yaml", age=[age_keys[0].recipient])
    out = sops.decrypt_file(encrypted, "yaml", age_keyring(age_keys[0]), source="v.yaml")
    assert fileformat.load_yaml_documents(out) == [
        {"when": "2024-01-01T00:00:00Z", "version": "1.10", "answer": "yes", "hex": 31, "big": 1e21}
    ]
    assert b"when: 2024-01-01T00:00:00Z\n" in out  # a timestamp, as sops writes it


SHAMIR_RULE = """\
creation_rules:
  - path_regex: .*
    shamir_threshold: 2
    key_groups:
      - age: [{0}]
      - age: [{1}]
      - age: [{2}]
"""


def test_shamir_key_groups(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    config = SHAMIR_RULE.format(*(k.recipient for k in age_keys))
    encrypted = sops_cli.encrypt(DOTENV, "app.env", config=config)
    assert b"sops_shamir_threshold=2" in encrypted
    two_of_three = age_keyring(age_keys[0], age_keys[2])
    out = sops.decrypt_file(encrypted, "dotenv", two_of_three, source="app.env")
    assert f"DB_PASSWORD={PLAINTEXT}\n" in out.decode()
    with pytest.raises(sops.NoMatchingKey, match="1 of the 2 key groups"):
        sops.decrypt_file(encrypted, "dotenv", age_keyring(age_keys[1]), source="app.env")


def test_not_a_sops_file(age_keys: list[AgeKey]) -> None:
    keyring = age_keyring(age_keys[0])
    for data, fmt in [
        (DOTENV.encode(), "dotenv"),
        (b"{not json", "json"),
        (b"a: [unclosed", "yaml"),
        (b"[section]\nno delimiter here\n", "ini"),
    ]:
        with pytest.raises(sops.MalformedSopsFile) as caught:
            sops.decrypt_file(data, fmt, keyring, source=f"file.{fmt}")  # type: ignore[arg-type]
        assert caught.value.source == f"file.{fmt}"
        assert PLAINTEXT not in str(caught.value)


def test_format_for_path() -> None:
    assert fileformat.format_for_path("secrets/app.ENV") == "dotenv"
    assert fileformat.format_for_path("a.yml") == "yaml"
    assert fileformat.format_for_path(".dockerconfigjson") == "json"
    assert fileformat.format_for_path("conf.ini") == "ini"
    assert fileformat.format_for_path("tls.crt") == "binary"
