"""Kubernetes documents encrypted by the real sops CLI, decrypted by `decrypt_document`."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from kidp_gitops import sops
from kidp_gitops.goyaml import scalars
from kidp_gitops.sops import fileformat
from tests.unit.sops.conftest import AgeKey, PgpKey, Sops

PLAINTEXT = "s3cr3t-Value-42"
PLAINTEXT_B64 = base64.b64encode(PLAINTEXT.encode()).decode()

SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: apps
  labels:
    app.kubernetes.io/name: db
type: Opaque
# rotated monthly
data:
  password: {PLAINTEXT_B64}
  username: YWRtaW4=
stringData:
  connection: postgres://admin:{PLAINTEXT}@db:5432/app
  port: "5432"
"""

# The creation rule of the PRD's .sops.yaml, with the test's own key.
PRD_RULE = """\
creation_rules:
  - path_regex: .*.yaml
    encrypted_regex: ^(data|stringData)$
    {kind}: {key}
"""


def load(data: bytes) -> dict[str, Any]:
    (document,) = fileformat.load_yaml_documents(data)
    assert isinstance(document, dict)
    return document


def encrypt_secret(
    cli: Sops, kind: str, recipients: list[str], *, prd_rule: bool, content: str = SECRET
) -> bytes:
    if prd_rule:
        config = PRD_RULE.format(kind=kind, key=",".join(recipients))
        return cli.encrypt(content, "secret.yaml", config=config)
    return cli.encrypt(content, "secret.yaml", **{kind: recipients})  # type: ignore[arg-type]


def age_keyring(*keys: AgeKey) -> sops.Keyring:
    text = "".join(f"# public key: {k.recipient}\n{k.identity}\n" for k in keys)
    return sops.Keyring.from_secret_data({"age.agekey": text.encode()})


def pgp_keyring(*keys: PgpKey) -> sops.Keyring:
    return sops.Keyring.from_secret_data(
        {f"key{i}.asc": k.armored_secret for i, k in enumerate(keys)}
    )


@pytest.fixture(params=["age", "pgp"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cli(kind: str, request: pytest.FixtureRequest) -> Sops:
    cli: Sops = request.getfixturevalue("sops_pgp" if kind == "pgp" else "sops_cli")
    return cli


@pytest.fixture
def ours(kind: str, request: pytest.FixtureRequest) -> tuple[str, sops.Keyring]:
    """Our key's public name and a keyring holding its private half."""
    if kind == "age":
        key: AgeKey = request.getfixturevalue("age_keys")[0]
        return key.recipient, age_keyring(key)
    pgp: PgpKey = request.getfixturevalue("pgp_keys")[0]
    return pgp.fingerprint, pgp_keyring(pgp)


@pytest.fixture
def others(kind: str, request: pytest.FixtureRequest) -> tuple[str, sops.Keyring]:
    """Another key of the same kind, and a keyring holding it."""
    if kind == "age":
        key: AgeKey = request.getfixturevalue("age_keys")[1]
        return key.recipient, age_keyring(key)
    pgp: PgpKey = request.getfixturevalue("pgp_keys")[1]
    return pgp.fingerprint, pgp_keyring(pgp)


@pytest.mark.parametrize("prd_rule", [True, False], ids=["encrypted_regex", "everything"])
def test_decrypts_to_the_original(
    kind: str, cli: Sops, ours: tuple[str, sops.Keyring], prd_rule: bool
) -> None:
    recipient, keyring = ours
    encrypted = encrypt_secret(cli, kind, [recipient], prd_rule=prd_rule)
    document = load(encrypted)
    assert sops.is_encrypted(document)
    assert fileformat.looks_encrypted(document["data"]["password"])
    assert fileformat.looks_encrypted(document["stringData"]["port"])
    assert fileformat.looks_encrypted(document["metadata"]["name"]) is not prd_rule

    original = yaml.safe_load(SECRET)
    assert sops.decrypt_document(document, keyring, source="secret.yaml") == original
    # Every value decrypted is said, so messages can mask it (runtime/redact.py).
    assert PLAINTEXT_B64 in keyring.revealed
    assert f"postgres://admin:{PLAINTEXT}@db:5432/app" in keyring.revealed
    # A document read by plain PyYAML decrypts the same.
    plain_pyyaml = yaml.safe_load(encrypted)
    assert sops.decrypt_document(plain_pyyaml, keyring, source="secret.yaml") == original
    # And so does the file, written back as YAML.
    out = sops.decrypt_file(encrypted, "yaml", keyring, source="secret.yaml")
    assert yaml.safe_load(out) == original


def test_our_key_is_the_second_recipient(
    kind: str, cli: Sops, ours: tuple[str, sops.Keyring], others: tuple[str, sops.Keyring]
) -> None:
    encrypted = encrypt_secret(cli, kind, [others[0], ours[0]], prd_rule=True)
    document = load(encrypted)
    assert [e["recipient" if kind == "age" else "fp"] for e in document["sops"][kind]] == [
        others[0],
        ours[0],
    ]
    assert sops.decrypt_document(document, ours[1], source="s") == yaml.safe_load(SECRET)


def test_wrong_key_names_the_recipients(
    kind: str, cli: Sops, ours: tuple[str, sops.Keyring], others: tuple[str, sops.Keyring]
) -> None:
    encrypted = encrypt_secret(cli, kind, [ours[0]], prd_rule=True)
    with pytest.raises(sops.NoMatchingKey) as caught:
        sops.decrypt_document(load(encrypted), others[1], source="apps/secret.yaml")
    message = str(caught.value)
    assert message.startswith("apps/secret.yaml: ")
    assert ours[0] in message  # what the file is encrypted for
    assert others[0] in message  # what the keyring holds
    assert caught.value.source == "apps/secret.yaml"
    assert any(ours[0] in r for r in caught.value.recipients)


def test_an_empty_keyring_names_the_recipients(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    encrypted = sops_cli.encrypt(SECRET, "s.yaml", age=[age_keys[0].recipient])
    with pytest.raises(sops.NoMatchingKey, match="no age or PGP keys"):
        sops.decrypt_document(load(encrypted), sops.Keyring(), source="s.yaml")


def test_age_file_with_only_a_pgp_key(
    sops_cli: Sops, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> None:
    encrypted = sops_cli.encrypt(SECRET, "s.yaml", age=[age_keys[0].recipient])
    with pytest.raises(sops.NoMatchingKey) as caught:
        sops.decrypt_document(load(encrypted), pgp_keyring(pgp_keys[0]), source="s.yaml")
    assert pgp_keys[0].fingerprint in str(caught.value)
    assert age_keys[0].recipient in str(caught.value)


def test_age_and_pgp_recipients_either_key_opens(
    sops_pgp: Sops, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> None:
    encrypted = sops_pgp.encrypt(
        SECRET, "s.yaml", age=[age_keys[1].recipient], pgp=[pgp_keys[0].fingerprint]
    )
    original = yaml.safe_load(SECRET)
    for keyring in (age_keyring(age_keys[1]), pgp_keyring(pgp_keys[0])):
        assert sops.decrypt_document(load(encrypted), keyring, source="s.yaml") == original


def _flip(enc: str) -> str:
    """The same ENC[...] value with one ciphertext bit flipped."""
    head, data, rest = enc.partition(",iv:")[0].partition("data:")
    raw = bytearray(base64.b64decode(rest))
    raw[0] ^= 0x01
    return f"{head}{data}{base64.b64encode(bytes(raw)).decode()},iv:{enc.partition(',iv:')[2]}"


def test_tampered_ciphertext_is_rejected(
    kind: str, cli: Sops, ours: tuple[str, sops.Keyring]
) -> None:
    document = load(encrypt_secret(cli, kind, [ours[0]], prd_rule=True))
    document["data"]["password"] = _flip(document["data"]["password"])
    with pytest.raises(sops.MacMismatch, match=r"data:password"):
        sops.decrypt_document(document, ours[1], source="s.yaml")


def test_tampered_mac_is_rejected(kind: str, cli: Sops, ours: tuple[str, sops.Keyring]) -> None:
    document = load(encrypt_secret(cli, kind, [ours[0]], prd_rule=True))
    document["sops"]["mac"] = _flip(document["sops"]["mac"])
    with pytest.raises(sops.MacMismatch, match="MAC"):
        sops.decrypt_document(document, ours[1], source="s.yaml")


def test_a_value_moved_to_another_key_is_rejected(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    document = load(sops_cli.encrypt(SECRET, "s.yaml", age=[age_keys[0].recipient]))
    document["data"]["username"] = document["data"]["password"]
    with pytest.raises(sops.MacMismatch, match="data:username"):
        sops.decrypt_document(document, age_keyring(age_keys[0]), source="s.yaml")


def test_a_changed_cleartext_field_fails_the_mac_unless_unchecked(
    sops_cli: Sops, age_keys: list[AgeKey]
) -> None:
    config = PRD_RULE.format(kind="age", key=age_keys[0].recipient)
    document = load(sops_cli.encrypt(SECRET, "secret.yaml", config=config))
    document["metadata"]["namespace"] = "elsewhere"  # what a kustomize overlay may do
    keyring = age_keyring(age_keys[0])
    with pytest.raises(sops.MacMismatch, match="does not match"):
        sops.decrypt_document(document, keyring, source="s.yaml")
    plain = sops.decrypt_document(document, keyring, source="s.yaml", verify_mac=False)
    assert plain["data"]["password"] == PLAINTEXT_B64
    assert plain["metadata"]["namespace"] == "elsewhere"


def test_mac_only_encrypted_covers_only_encrypted_values(
    sops_cli: Sops, age_keys: list[AgeKey]
) -> None:
    args = ["--mac-only-encrypted", "--encrypted-regex", "^(data|stringData)$"]
    encrypted = sops_cli.encrypt(SECRET, "s.yaml", age=[age_keys[0].recipient], args=args)
    document = load(encrypted)
    assert document["sops"]["mac_only_encrypted"] is True
    document["metadata"]["namespace"] = "elsewhere"
    plain = sops.decrypt_document(document, age_keyring(age_keys[0]), source="s.yaml")
    assert plain["stringData"]["connection"].endswith("@db:5432/app")
    document["data"]["username"] = document["data"]["password"]
    with pytest.raises(sops.MacMismatch):
        sops.decrypt_document(document, age_keyring(age_keys[0]), source="s.yaml")


CONFIG_OBJECT = """\
apiVersion: example.com/v1
kind: Settings
metadata:
  name: app
spec:
  name: app
  port: 5432
  ratio: 1.5
  whole: 3.0
  enabled: true
  disabled: false
  empty: ""
  nothing:
  octal: 0o17
  answer: yes
  since: 2024-01-01
  quoted_date: "2024-01-01"
  list: [a, 2, 2.5, false]
  nested:
    deeper:
      value: text
"""


def test_value_types_come_back_as_sops_wrote_them(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    encrypted = sops_cli.encrypt(CONFIG_OBJECT, "object.yaml", age=[age_keys[0].recipient])
    document = load(encrypted)
    types = {
        k: (v.rpartition("type:")[2] if isinstance(v, str) else v)
        for k, v in document["spec"].items()
        if not isinstance(v, dict | list)
    }
    assert types["port"] == "int]"
    assert types["ratio"] == "float]"
    assert types["since"] == "time]"
    assert types["enabled"] == "bool]"
    assert types["empty"] == ""
    assert types["nothing"] is None

    plain = sops.decrypt_document(document, age_keyring(age_keys[0]), source="object.yaml")
    spec = plain["spec"]
    assert plain == load(CONFIG_OBJECT.encode())
    assert (spec["port"], type(spec["port"])) == (5432, int)
    assert (spec["ratio"], spec["whole"]) == (1.5, 3.0)
    assert type(spec["whole"]) is float
    assert spec["enabled"] is True
    assert spec["disabled"] is False
    assert spec["empty"] == ""
    assert spec["nothing"] is None
    assert spec["octal"] == 15
    assert spec["answer"] == "yes"
    assert spec["since"] == "2024-01-01T00:00:00Z"
    assert isinstance(spec["since"], scalars.Timestamp)
    assert spec["quoted_date"] == "2024-01-01"
    assert spec["list"] == ["a", 2, 2.5, False]
    assert spec["nested"] == {"deeper": {"value": "text"}}


@pytest.mark.parametrize(
    ("args", "clear", "hidden"),
    [
        (["--encrypted-suffix", "_enc"], "plain", "secret_enc"),
        (["--unencrypted-suffix", "_plain"], "note_plain", "secret_enc"),
        (["--unencrypted-regex", "^(plain|note_plain)$"], "plain", "secret_enc"),
        (["--encrypted-regex", "^secret"], "plain", "secret_enc"),
    ],
)
def test_encryption_rules(
    sops_cli: Sops, age_keys: list[AgeKey], args: list[str], clear: str, hidden: str
) -> None:
    content = "plain: visible\nnote_plain: also\nsecret_enc:\n  inner: hidden\n"
    document = load(sops_cli.encrypt(content, "rules.yaml", age=[age_keys[0].recipient], args=args))
    assert document[clear] in ("visible", "also")
    assert fileformat.looks_encrypted(document[hidden]["inner"])
    plain = sops.decrypt_document(document, age_keyring(age_keys[0]), source="rules.yaml")
    assert plain == yaml.safe_load(content)


def test_is_encrypted() -> None:
    assert not sops.is_encrypted(yaml.safe_load(SECRET))
    assert not sops.is_encrypted({"sops": {"mac": ""}})
    assert not sops.is_encrypted({"sops": "text"})
    assert sops.is_encrypted({"sops": {"mac": "ENC[...]"}})


def test_malformed_documents(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    keyring = age_keyring(age_keys[0])
    with pytest.raises(sops.MalformedSopsFile, match="no sops metadata"):
        sops.decrypt_document(yaml.safe_load(SECRET), keyring, source="s.yaml")
    document = load(sops_cli.encrypt(SECRET, "s.yaml", age=[age_keys[0].recipient]))
    broken = {**document, "sops": {**document["sops"], "lastmodified": "yesterday"}}
    with pytest.raises(sops.MalformedSopsFile, match="lastmodified"):
        sops.decrypt_document(broken, keyring, source="s.yaml")
    document["data"]["password"] = PLAINTEXT
    with pytest.raises(sops.MalformedSopsFile, match="data:password") as caught:
        sops.decrypt_document(document, keyring, source="s.yaml")
    assert PLAINTEXT not in str(caught.value)


def _error_text(err: BaseException) -> str:
    """Everything an error shows: its message, repr, args and the causes it chains."""
    parts: list[str] = []
    seen: BaseException | None = err
    while seen is not None:
        parts += [str(seen), repr(seen), *map(repr, seen.args)]
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(parts)


def test_errors_never_show_plaintext_or_private_keys(
    sops_pgp: Sops, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> None:
    encrypted = sops_pgp.encrypt(
        SECRET, "s.yaml", age=[age_keys[0].recipient], pgp=[pgp_keys[0].fingerprint]
    )
    ours = sops.Keyring.from_secret_data(
        {"k.agekey": age_keys[0].identity.encode(), "k.asc": pgp_keys[0].armored_secret}
    )
    wrong = sops.Keyring.from_secret_data(
        {"k.agekey": age_keys[1].identity.encode(), "k.asc": pgp_keys[1].armored_secret}
    )
    errors: list[sops.DecryptionError] = []

    def collect(document: dict[str, Any], keyring: sops.Keyring) -> None:
        with pytest.raises(sops.DecryptionError) as caught:
            sops.decrypt_document(document, keyring, source="s.yaml")
        errors.append(caught.value)

    collect(load(encrypted), wrong)
    tampered = load(encrypted)
    tampered["data"]["password"] = _flip(tampered["data"]["password"])
    collect(tampered, ours)
    tampered = load(encrypted)
    tampered["sops"]["mac"] = _flip(tampered["sops"]["mac"])
    collect(tampered, ours)
    tampered = load(encrypted)
    tampered["metadata"]["note_unencrypted"] = "added later"  # cleartext by sops' rules
    collect(tampered, ours)
    tampered = load(encrypted)
    tampered["data"]["password"] = tampered["data"]["password"].replace("type:str", "type:int")
    collect(tampered, ours)  # authenticates, but is not an int: must not echo the text
    tampered = load(encrypted)
    tampered["stringData"]["connection"] = f"{PLAINTEXT} in clear"
    collect(tampered, ours)
    with pytest.raises(sops.KeyringError) as bad_key:
        sops.Keyring.from_secret_data({"k.agekey": age_keys[0].identity[:-3].encode()})
    errors.append(bad_key.value)

    secrets = [PLAINTEXT, PLAINTEXT_B64, "AGE-SECRET-KEY", "PRIVATE KEY"]
    secrets += [k.identity for k in age_keys] + [age_keys[0].identity[:-3]]
    assert [type(e).__name__ for e in errors] == [
        "NoMatchingKey",
        "MacMismatch",
        "MacMismatch",
        "MacMismatch",
        "MalformedSopsFile",
        "MalformedSopsFile",
        "KeyringError",
    ]
    for err in errors:
        text = _error_text(err)
        assert not [s for s in secrets if s in text], text
    assert "AGE-SECRET-KEY" not in repr(ours)
    assert "PRIVATE" not in repr(ours)
