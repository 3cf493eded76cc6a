"""Plain scalars as Go reads them: the one place for these rules.

Three readers need them: `goyaml.yamlio` (manifests, as kustomize reads them with
yaml.v3, or v2), `sops.fileformat` (encrypted YAML, as sops reads it with yaml.v3) and
`sops.native` (a decrypted value's `type:`, parsed with Go's strconv).

yaml.v3, for an unquoted scalar: null (`~`, `null`, empty), bool (`true`/`false` in three
spellings; v2 also `yes`/`no`/`on`/`off`/`y`/`n`), `.inf`/`.nan`, a timestamp, an integer
(strconv.ParseInt with base prefixes and a leading-zero octal, then ParseUint; `_` ignored),
a float; anything else is a string.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

NULLS = frozenset({"", "~", "null", "Null", "NULL"})
TRUE_V3 = frozenset({"true", "True", "TRUE"})
FALSE_V3 = frozenset({"false", "False", "FALSE"})
TRUE_V2 = TRUE_V3 | {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"}
FALSE_V2 = FALSE_V3 | {"n", "N", "no", "No", "NO", "off", "Off", "OFF"}
SPECIAL_FLOATS = {
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
}
NUMERIC_START = frozenset("-+.0123456789")
"""The first characters of a scalar that may be a number or a timestamp."""

_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?P<sep>[Tt ])(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?(?P<zone>Z|[+-]\d{2}:\d{2})?)?"
)


class Timestamp(str):
    """A YAML timestamp as Go keeps it: RFC 3339 text with nanoseconds, trailing zeros cut.

    It is a ``str`` so that it serialises as JSON and fits Kubernetes objects; the YAML
    emitters write it plain, so it reads back as a timestamp.
    """

    __slots__ = ()


def parse_timestamp(text: str, *, strict: bool = False) -> Timestamp | None:
    """A timestamp in one of the forms yaml.v3 accepts (RFC 3339 only when `strict`)."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    sep, zone = m.group("sep"), m.group("zone")
    if (sep in ("T", "t") and zone is None) or (sep == " " and zone is not None):
        return None
    if strict and (sep != "T" or zone is None):
        return None
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hour, minute, second = (int(m.group(i) or 0) for i in (5, 6, 7))
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    fraction = (m.group(8) or "").rstrip("0")
    offset = "Z" if zone in (None, "Z", "+00:00", "-00:00") else zone
    clock = f"{hour:02d}:{minute:02d}:{second:02d}" + (f".{fraction}" if fraction else "")
    return Timestamp(f"{year:04d}-{month:02d}-{day:02d}T{clock}{offset}")


def go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), then ParseUint: what yaml.v2/v3 accept as an
    integer (`_` already removed)."""
    match = _INT.fullmatch(text)
    if not match:
        return None
    sign, body = match.groups()
    if body[:2] in ("0x", "0X", "0o", "0O", "0b", "0B"):
        value = int(body, 0)
    elif body.startswith("0") and len(body) > 1:
        value = int(body[1:], 8)
    elif len(body) > 20:
        return None  # past 2**64, and int() refuses strings of over 4300 digits
    else:
        value = int(body)
    if sign == "-":
        value = -value
    if -(2**63) <= value < 2**64 and not (sign and value >= 2**63):
        return value
    return None


def resolve(text: str, *, v2: bool = False) -> Any:
    """The value of an unquoted scalar: None, bool, int, float, Timestamp (v3 only) or
    the text itself."""
    if text in NULLS:
        return None
    if text in (TRUE_V2 if v2 else TRUE_V3):
        return True
    if text in (FALSE_V2 if v2 else FALSE_V3):
        return False
    if text in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[text]
    if text[0] not in NUMERIC_START:
        return text
    if text[0] == ".":  # strconv.ParseFloat of the text as written: no `_`
        return float(text) if _FLOAT.fullmatch(text) else text
    if not v2:
        stamp = parse_timestamp(text)
        if stamp is not None:
            return stamp
    plain = text.replace("_", "")
    number = go_int(plain)
    if number is not None:
        return number
    if _FLOAT.fullmatch(plain):
        return float(plain)
    return text


# --- strconv, for the typed values sops encrypts --------------------------------------

_ATOI = re.compile(r"[+-]?[0-9]+")
_PARSE_FLOAT = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?i:inf|infinity|nan)"
)
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def atoi(text: str) -> int | None:
    """strconv.Atoi: decimal, int64 only."""
    # int() refuses strings of over 4300 digits: no int64 has more than 19.
    if not _ATOI.fullmatch(text) or len(text.lstrip("+-").lstrip("0")) > 19:
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64), decimal forms."""
    return float(text) if _PARSE_FLOAT.fullmatch(text) else None


def parse_bool(text: str) -> bool | None:
    """strconv.ParseBool."""
    return _BOOLS.get(text)
