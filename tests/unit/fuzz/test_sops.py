"""SOPS files from a repository: a tree, or `fileformat.FormatError` (parsing) /
`sops.DecryptionError` (decrypting), and nothing else.

A repository author holds the public half of the decryption key, so they can encrypt
anything: the walk past the data key is fuzzed with values this module encrypts itself
(sops' value format, checked against the real sops CLI in tests/unit/sops), with the MAC
left unchecked as for built objects (`verify_mac=False`), and checked (it never matches).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pyrage  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kidp_gitops import sops
from kidp_gitops.sops import fileformat
from tests.unit.fuzz import harness

FORMATS: list[fileformat.FileFormat] = ["yaml", "json", "dotenv", "ini", "binary"]
_IDENTITY = pyrage.x25519.Identity.generate()
KEYRING = sops.Keyring.from_secret_data({"fuzz.agekey": str(_IDENTITY)})
DATA_KEY = os.urandom(32)
_ARMORED_KEY = (
    "-----BEGIN AGE ENCRYPTED FILE-----\n"
    + base64.b64encode(pyrage.encrypt(DATA_KEY, [_IDENTITY.to_public()])).decode()
    + "\n-----END AGE ENCRYPTED FILE-----\n"
)

_TOKENS = [
    "sops:", "sops_mac=ENC[", "[sops]", "mac: ENC[", '"mac": "ENC[', "ENC[AES256_GCM,data:",
    ",iv:", ",tag:", ",type:str]", "age:", "- recipient: age1x\n  enc: x", "lastmodified: ",
    "2024-01-01T00:00:00Z", "__map_", "__list_", "__list_99999999999", "=", ":", "\n", "[", "]",
    "{", "}", '"', "'", "`", '"""', "#", ";", "key_groups:", "shamir_threshold: ", ".inf",
    "1e999", "9" * 30, "\u0663", "\\n", "\ufeff", "\xff",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(_TOKENS) | st.text(max_size=4), max_size=40).map("".join)
DATA = TEXT.map(lambda t: t.encode("utf-8", "surrogateescape")) | st.binary(max_size=80)
_LEAF = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
RAW = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(list(fileformat.KEY_KINDS)), inner)
    ),
    max_leaves=12,
)


def parses_or_refuses(data: bytes) -> None:
    for fmt in FORMATS:
        try:
            parsed = fileformat.load_file(data, fmt)
        except fileformat.FormatError:
            continue
        with contextlib.suppress(fileformat.FormatError):
            fileformat.parse_metadata(parsed.metadata)
        with contextlib.suppress(sops.DecryptionError):
            sops.decrypt_file(data, fmt, KEYRING, source="fuzz", verify_mac=False)


@given(DATA)
@settings(max_examples=harness.examples(600))
@example(b"sops_mac=ENC[x\nsops_age__list_99999999999__map_enc=x\n")
@example(b"sops_mac=ENC[x\nsops_age__list_\xd9\xa3__map_enc=x\n")
@example(b'{"sops": ' * 100_000)
@harness.bounded
def test_parses_or_refuses(data: bytes) -> None:
    parses_or_refuses(data)


@given(RAW)
@settings(max_examples=harness.examples(250))
@example({"mac": "x", "age": [{"enc": "x"}], "shamir_threshold": float("inf")})
@example({"mac": "x", "age": [{"enc": "x"}], "shamir_threshold": "9" * 5000})
@harness.bounded
def test_metadata_or_refusal(raw: Any) -> None:
    with contextlib.suppress(fileformat.FormatError):
        fileformat.parse_metadata(raw)


@given(st.dictionaries(TEXT, st.text(max_size=4), max_size=5))
@settings(max_examples=harness.examples(400))
@harness.bounded
def test_unflatten_or_refusal(flat: dict[str, str]) -> None:
    with contextlib.suppress(fileformat.FormatError):
        fileformat.unflatten(flat)


# --- past the data key: values encrypted as sops encrypts them -------------------------

TYPES = ["str", "int", "float", "bool", "time", "bytes", "comment", "x"]
_PLAIN = st.sampled_from(
    ["", "1", "-0", "True", "t", "nan", "-inf", "1e999", "9" * 5000, "2024-01-01T00:00:00Z"]
) | st.text(max_size=8).map(str.encode).map(bytes.decode)


def _enc(plain: str, kind: str, path: list[str]) -> str:
    iv = os.urandom(32)
    sealed = AESGCM(DATA_KEY).encrypt(iv, plain.encode(), (":".join(path) + ":").encode())
    data, tag = sealed[:-16], sealed[-16:]

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"ENC[AES256_GCM,data:{b64(data)},iv:{b64(iv)},tag:{b64(tag)},type:{kind}]"


@st.composite
def _encrypted_tree(draw: st.DrawFn, path: list[str], depth: int) -> Any:
    choice = draw(st.integers(0, 3 if depth < 6 else 1))
    if choice == 0:
        return _enc(draw(_PLAIN), draw(st.sampled_from(TYPES)), path)
    if choice == 1:
        return draw(_LEAF)
    if choice == 2:
        return [draw(_encrypted_tree(path, depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    keys = draw(st.lists(st.text(max_size=6), max_size=3, unique=True))
    return {k: draw(_encrypted_tree([*path, k], depth + 1)) for k in keys}


RULES = st.sampled_from(
    [
        {},
        {"unencrypted_suffix": "_plain"},
        {"encrypted_regex": "^(data|stringData)$"},
        {"unencrypted_regex": "[", "mac_only_encrypted": True},
        {"encrypted_comment_regex": "x"},
    ]
)


def _metadata(rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "age": [{"recipient": str(_IDENTITY.to_public()), "enc": _ARMORED_KEY}],
        "lastmodified": "2024-01-01T00:00:00Z",
        "mac": _enc("0" * 128, "str", []),
        **rules,
    }


def decrypts_or_refuses(tree: dict[str, Any], rules: dict[str, Any], fmt: str) -> None:
    document = {**tree, "sops": _metadata(rules)}
    with contextlib.suppress(sops.DecryptionError):
        sops.decrypt_document(document, KEYRING, source="fuzz", verify_mac=False)
    with contextlib.suppress(sops.DecryptionError):
        sops.decrypt_document(document, KEYRING, source="fuzz")
    data = (
        json.dumps(document).encode()
        if fmt == "json"
        else fileformat.dump_yaml_documents([document])
    )
    with contextlib.suppress(sops.DecryptionError):
        sops.decrypt_file(data, "yaml" if fmt == "yaml" else "json", KEYRING, source="fuzz")


@st.composite
def _document(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.text(max_size=6).filter(lambda k: k != "sops"), max_size=4))
    return {k: draw(_encrypted_tree([k], 1)) for k in keys}


@given(
    _document(),
    RULES,
    st.sampled_from(["yaml", "json"]),
)
@settings(max_examples=harness.examples(200))
@example({"a": _enc("9" * 5000, "int", ["a"])}, {}, "yaml")  # ValueError from int()
@example({"a": [[[[[[_enc("x", "str", ["a"])]]]]]]}, {}, "json")
@harness.bounded
def test_decrypts_or_refuses(tree: dict[str, Any], rules: dict[str, Any], fmt: str) -> None:
    decrypts_or_refuses(tree, rules, fmt)


def _encrypt(value: Any, path: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _encrypt(v, [*path, k]) for k, v in value.items()}
    if isinstance(value, list):
        return [_encrypt(item, path) for item in value]
    return _enc(value, "str", path)


PLAIN_TREES = st.dictionaries(
    st.text(max_size=6).filter(lambda k: k != "sops"),
    st.recursive(
        st.text(max_size=8).filter(bool),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=10,
    ),
    max_size=4,
)


@given(PLAIN_TREES)
@settings(max_examples=harness.examples(150))
@harness.bounded
def test_what_was_encrypted_decrypts(tree: dict[str, Any]) -> None:
    document = {**_encrypt(tree, []), "sops": _metadata({})}
    assert sops.decrypt_document(document, KEYRING, source="fuzz", verify_mac=False) == tree


@pytest.mark.parametrize("path", harness.corpus("sops"))
def test_corpus(path: Path) -> None:
    harness.bounded(parses_or_refuses)(path.read_bytes())
