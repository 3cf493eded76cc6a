"""The pieces of the sops file format that must match Go byte for byte."""

from __future__ import annotations

import math
import time

import pytest

from kidp_gitops.goyaml import scalars
from kidp_gitops.sops import fileformat


@pytest.mark.parametrize(
    ("value", "f", "g", "as_json"),
    [
        (3.0, "3", "3", "3"),
        (1.5, "1.5", "1.5", "1.5"),
        (-0.0, "-0", "-0", "-0"),
        (0.0, "0", "0", "0"),
        (1e20, "100000000000000000000", "1e+20", "100000000000000000000"),
        (1e21, "1000000000000000000000", "1e+21", "1e+21"),
        (1000000.0, "1000000", "1e+06", "1000000"),
        (123456.0, "123456", "123456", "123456"),
        (0.0001, "0.0001", "0.0001", "0.0001"),
        (0.00001, "0.00001", "1e-05", "0.00001"),
        (1e-7, "0.0000001", "1e-07", "1e-7"),
        (1234.56789, "1234.56789", "1234.56789", "1234.56789"),
        (math.inf, "+Inf", "+Inf", "+Inf"),
    ],
)
def test_go_float(value: float, f: str, g: str, as_json: str) -> None:
    assert fileformat.go_float(value, "f") == f
    assert fileformat.go_float(value, "g") == g
    if math.isfinite(value):
        assert fileformat.go_float(value, "json") == as_json


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", "2024-01-01T00:00:00Z"),
        ("2024-1-2 3:04:05", "2024-01-02T03:04:05Z"),
        ("2001-12-14t21:59:43.10-05:00", "2001-12-14T21:59:43.1-05:00"),
        ("2024-01-01T10:00:00.000000000+00:00", "2024-01-01T10:00:00Z"),
        ("2024-02-30", None),
        ("2024-01-01T10:00:00", None),
        ("20240101", None),
    ],
)
def test_timestamps(text: str, expected: str | None) -> None:
    assert scalars.parse_timestamp(text) == expected


def test_yaml_scalars_resolve_as_go_does() -> None:
    (doc,) = fileformat.load_yaml_documents(
        b"a: 0o17\nb: 0777\nc: 08\nd: 1_000\ne: yes\nf: .5\ng: ~\nh: True\ni: 1:20\n"
        b"j: 99999999999999999999\nk: <<\n"
    )
    assert doc == {
        "a": 15,
        "b": 511,
        "c": 8.0,
        "d": 1000,
        "e": "yes",
        "f": 0.5,
        "g": None,
        "h": True,
        "i": "1:20",
        "j": 1e20,
        "k": "<<",
    }
    assert isinstance(doc["c"], float)


def test_yaml_output_quotes_what_either_reader_would_misread() -> None:
    out = fileformat.dump_yaml_documents(
        [{"a": "yes", "b": "0o17", "c": "1e3", "d": "on", "e": "2024-01-01", "f": 3.0}]
    )
    assert fileformat.load_yaml_documents(out) == [
        {"a": "yes", "b": "0o17", "c": "1e3", "d": "on", "e": "2024-01-01", "f": 3}
    ]
    assert b"f: 3\n" in out


def test_unflatten() -> None:
    flat = {
        "age__list_0__map_recipient": "age1a",
        "age__list_0__map_enc": "x",
        "age__list_1__map_recipient": "age1b",
        "key_groups__list_0__map_age__list_0__map_recipient": "age1c",
        "mac_only_encrypted": "true",
        "lastmodified": "2024-01-01T00:00:00Z",
    }
    assert fileformat.unflatten(flat) == {
        "age": [{"recipient": "age1a", "enc": "x"}, {"recipient": "age1b"}],
        "key_groups": [{"age": [{"recipient": "age1c"}]}],
        "mac_only_encrypted": True,
        "lastmodified": "2024-01-01T00:00:00Z",
    }


def test_metadata_rules() -> None:
    base = {"mac": "", "lastmodified": "2024-01-01T10:00:00.5+02:00", "age": [{"enc": "x"}]}
    metadata = fileformat.parse_metadata(base)
    assert metadata.last_modified == "2024-01-01T10:00:00+02:00"
    assert metadata.unencrypted_suffix == "_unencrypted"
    assert metadata.should_encrypt(("a", "b"))
    assert not metadata.should_encrypt(("a_unencrypted", "b"))
    regex = fileformat.parse_metadata({**base, "encrypted_regex": "^(data|stringData)$"})
    assert regex.should_encrypt(("data", "x"))
    assert not regex.should_encrypt(("metadata", "name"))
    with pytest.raises(fileformat.FormatError, match="more than one"):
        fileformat.parse_metadata({**base, "encrypted_regex": "a", "encrypted_suffix": "b"})
    with pytest.raises(fileformat.FormatError, match="names no key"):
        fileformat.parse_metadata({**base, "age": []})


def test_a_file_s_own_regex_matches_in_linear_time_with_go_s_syntax() -> None:
    """sops compiles the rules with Go's regexp (RE2): the same here. A pattern that
    backtracks exponentially in Python's `re` answers at once; Perl-only syntax that Go
    refuses is refused."""
    base = {"mac": "", "lastmodified": "2024-01-01T10:00:00Z", "age": [{"enc": "x"}]}
    hostile = fileformat.parse_metadata({**base, "unencrypted_regex": "(a+)+$"})
    began = time.monotonic()
    assert hostile.should_encrypt(("a" * 64 + "!",))
    assert time.monotonic() - began < 1
    with pytest.raises(fileformat.FormatError, match="not a valid regular expression"):
        fileformat.parse_metadata({**base, "encrypted_regex": "(?<=x)data"})
