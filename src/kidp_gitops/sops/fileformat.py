"""How the sops CLI lays out an encrypted file, format by format; no cryptography here.

:mod:`kidp_gitops.sops` decrypts a *tree*: a list of branches (ordered dicts)
walked in the order sops walked them when it computed the file's MAC. This module turns
the bytes of each format sops writes into such a tree plus the ``sops`` metadata, and a
decrypted tree back into bytes of the same format:

==========  ======================================  ====================================
format      tree                                    metadata
==========  ======================================  ====================================
``yaml``    one branch per document                 ``sops`` key of the first document
``json``    one branch                              ``sops`` key
``binary``  ``{"data": <the whole file>}`` (JSON)   ``sops`` key
``dotenv``  ``{KEY: value}``                        ``sops_*`` lines, flattened
``ini``     ``{section: {key: value}}``             ``[sops]`` section, flattened
==========  ======================================  ====================================

Comments are dropped: sops leaves them out of the MAC, and a decrypted file is read by
kustomize, not by people. YAML scalars resolve the way Go's yaml.v3 resolves them for
sops (``yes`` stays a string, ``0o17`` is 15, ``2024-01-01`` is a :class:`Timestamp`),
because the MAC covers the text form sops derived from *its* reading of the file.

Errors are :class:`FormatError`; their messages never quote the file's content.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol, cast

import re2  # type: ignore[import-untyped]
import yaml

from kidp_gitops.goyaml import scalars, yamlio
from kidp_gitops.goyaml.scalars import Timestamp, parse_timestamp

FileFormat = Literal["yaml", "json", "dotenv", "ini", "binary"]
Branch = dict[str, Any]


class FormatError(ValueError):
    """The bytes are not a well-formed sops file of the expected format."""


# --- scalar text as Go writes it ------------------------------------------------------


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest round-trip digits of ``abs(value)`` and the decimal point position."""
    sign_digits_exp = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(str(d) for d in sign_digits_exp.digits)
    exponent = sign_digits_exp.exponent
    assert isinstance(exponent, int)  # finite values only
    point = len(digits) + exponent
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    stripped = stripped.rstrip("0")
    return stripped, (point if stripped else 0)


def _fmt_f(digits: str, point: int, decimals: int) -> str:
    whole = (digits[:point].ljust(point, "0") if point > 0 else "") or "0"
    if decimals <= 0:
        return whole
    frac = "".join(
        digits[i] if 0 <= i < len(digits) else "0" for i in range(point, point + decimals)
    )
    return f"{whole}.{frac}"


def _fmt_e(digits: str, point: int) -> str:
    mantissa = digits[:1] or "0"
    if len(digits) > 1:
        mantissa += "." + digits[1:]
    exp = point - 1 if digits else 0
    return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def go_float(value: float, verb: Literal["f", "g", "json"] = "f") -> str:
    """``value`` as Go's ``strconv.FormatFloat(value, verb, -1, 64)`` (or ``json.Marshal``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    digits, point = _shortest_digits(value)
    use_e = False
    if verb == "g":
        use_e = not -4 <= point - 1 < 6 and bool(digits)
    elif verb == "json":
        use_e = value != 0 and not 1e-6 <= abs(value) < 1e21
    if use_e:
        text = _fmt_e(digits, point)
        if verb == "json":
            text = re.sub(r"e([-+])0(\d)$", r"e\1\2", text)
        return sign + text
    return sign + _fmt_f(digits, point, max(len(digits) - point, 0))


def go_time_text(value: date) -> str:
    """A Python date/datetime (from a caller's YAML loader) as Go's RFC3339Nano text."""
    if not isinstance(value, datetime):
        return f"{value.isoformat()}T00:00:00Z"
    offset = value.utcoffset() or timedelta(0)
    text = value.replace(tzinfo=None).isoformat(timespec="microseconds").rstrip("0").rstrip(".")
    if offset == timedelta(0):
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    return f"{text}{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# --- YAML, read and written as sops (Go yaml.v3) does ---------------------------------

_GO_NUMBER_TAG = "tag:kidp-gitops,2024:go-scalar"


class _GoYamlLoader(yamlio.SafeLoader):
    """PyYAML with yaml.v3's scalar resolution, no merge keys (sops keeps ``<<`` as a key).

    On yamlio's loader, for its bounds (`yamlio.TooLarge`): the decryption walk, the MAC
    and the dumpers go through every alias copy, and recurse once per nesting level."""

    yaml_implicit_resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012


def _construct_go_scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    return scalars.resolve(str(loader.construct_scalar(node)))


_GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_GoYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_GoYamlLoader.add_implicit_resolver(_GO_NUMBER_TAG, re.compile(r"^[-+.0-9]"), list("-+.0123456789"))
_GoYamlLoader.add_constructor(_GO_NUMBER_TAG, _construct_go_scalar)


class _GoYamlDumper(yaml.SafeDumper):
    """Quotes every string that either YAML 1.1 or yaml.v3 would read as something else."""


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    text = go_float(value, "g")
    text = {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(text, text)
    # Tagged as whatever the text resolves to, so it is written plain ("3", not "!!float 3").
    tag: str = dumper.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return dumper.represent_scalar(tag, text)


def _represent_timestamp(dumper: yaml.SafeDumper, value: Timestamp) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", str(value))


_GoYamlDumper.add_implicit_resolver(_GO_NUMBER_TAG, re.compile(r"^[-+.0-9]"), list("-+.0123456789"))
_GoYamlDumper.add_implicit_resolver(
    "tag:yaml.org,2002:timestamp", re.compile(r"^[0-9]{4}-"), list("0123456789")
)
_GoYamlDumper.add_representer(float, _represent_float)
_GoYamlDumper.add_representer(Timestamp, _represent_timestamp)


def load_yaml_documents(data: bytes | str) -> list[Any]:
    """Every document of a YAML stream, with scalars resolved as sops resolves them."""
    try:
        # Our loader is SafeLoader-shaped; the stubs only name PyYAML's own classes.
        return list(yaml.load_all(data, Loader=cast("type[yaml.SafeLoader]", _GoYamlLoader)))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise FormatError(f"{problem}{where}") from None


def dump_yaml_documents(documents: list[Branch]) -> bytes:
    text = yaml.dump_all(
        documents,
        Dumper=_GoYamlDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 20,
    )
    return text.encode("utf-8", "surrogateescape")


# --- JSON, written as Go's encoding/json writes it ------------------------------------


def _json_text(value: Any, depth: int) -> str:
    pad, inner = "\n" + "\t" * depth, "\n" + "\t" * (depth + 1)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = (
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {_json_text(v, depth + 1)}"
            for k, v in value.items()
        )
        return "{" + ",".join(items) + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[" + ",".join(f"{inner}{_json_text(v, depth + 1)}" for v in value) + pad + "]"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise FormatError("JSON has no representation for NaN or infinity")
        return go_float(value, "json")
    if isinstance(value, bytes):
        return json.dumps(base64.b64encode(value).decode("ascii"))
    return json.dumps(value, ensure_ascii=False)


def load_json_object(data: bytes | str) -> Branch:
    try:
        value = json.loads(data, object_pairs_hook=dict)
    except (ValueError, UnicodeDecodeError) as err:
        where = f" at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
        raise FormatError(f"invalid JSON{where}") from None
    except RecursionError:  # how the json module refuses deep nesting
        raise FormatError(f"JSON nested deeper than {yamlio.MAX_DEPTH}") from None
    # The decryption walk and the writers recurse once per level, as for YAML.
    if not _nesting_within(value, yamlio.MAX_DEPTH):
        raise FormatError(f"JSON nested deeper than {yamlio.MAX_DEPTH}")
    if not isinstance(value, dict):
        raise FormatError("sops only writes JSON files whose top level is an object")
    return value


def _nesting_within(value: Any, limit: int) -> bool:
    """Whether at most `limit` lists and dicts nest inside each other in `value`."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        if not level:
            return True
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return not level


def dump_json_object(branch: Branch) -> bytes:
    return (_json_text(branch, 0) + "\n").encode("utf-8", "surrogateescape")


# --- dotenv and INI: flat formats whose metadata is flattened --------------------------


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def load_dotenv(data: bytes) -> tuple[Branch, dict[str, str]]:
    """The ``KEY=value`` pairs and the flattened ``sops_*`` metadata, in file order."""
    branch: Branch = {}
    flat: dict[str, str] = {}
    for number, line in enumerate(_decode(data).split("\n"), start=1):
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise FormatError(f"dotenv line {number} has no '='")
        value = value.replace("\\n", "\n")
        if key.startswith("sops_"):
            flat[key.removeprefix("sops_")] = value
        else:
            branch[key] = value
    return branch, flat


def dump_dotenv(branch: Branch) -> bytes:
    lines = []
    for key, value in branch.items():
        if isinstance(value, dict | list):
            raise FormatError(f"dotenv cannot hold the nested value of {key}")
        lines.append(f"{key}={_plain_text(value).replace(chr(10), chr(92) + 'n')}\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value, "g")
    return "" if value is None else str(value)


def _ini_value(lines: list[str], index: int, raw: str) -> tuple[str, int]:
    """The value starting in ``raw`` (a line after its key), go-ini's rules; next line index."""
    value = raw.lstrip()
    for quote in ('"""', "`"):
        if value.startswith(quote) and (quote == "`" or len(value) > 3):
            rest = value[len(quote) :]
            parts = [rest]
            while quote not in parts[-1] and index < len(lines):
                parts.append(lines[index])
                index += 1
            joined = "\n".join(parts)
            end = joined.rfind(quote)
            if end < 0:
                raise FormatError(f"INI value opened with {quote} is never closed")
            return joined[:end], index
    value = value.strip()
    cut = min((i for i in (value.find("#"), value.find(";")) if i >= 0), default=-1)
    if cut >= 0:
        value = value[:cut].rstrip()
    for quote in "'\"":
        if len(value) >= 2 and value[0] == value[-1] == quote and quote not in value[1:-1]:
            value = value[1:-1]
    return value, index


def load_ini(data: bytes) -> tuple[Branch, dict[str, str]]:
    """Sections (``DEFAULT`` first, as go-ini lists them) and the flattened ``[sops]`` section."""
    sections: dict[str, dict[str, str]] = {"DEFAULT": {}}
    current = sections["DEFAULT"]
    lines = _decode(data).splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            end = line.find("]")
            if end < 0:
                raise FormatError(f"INI line {index} opens a section it does not close")
            current = sections.setdefault(line[1:end].strip(), {})
            continue
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if cut < 0:
            raise FormatError(f"INI line {index} has no '=' or ':'")
        value, index = _ini_value(lines, index, line[cut + 1 :])
        current[line[:cut].strip()] = value
    flat = sections.pop("sops", {})
    return dict(sections), {k: v.replace("\\n", "\n") for k, v in flat.items()}


def dump_ini(branch: Branch) -> bytes:
    chunks = []
    for name, keys in branch.items():
        if not isinstance(keys, dict):
            raise FormatError(f"INI section {name} does not hold keys")
        if name == "DEFAULT" and not keys:
            continue
        width = max((len(k) for k in keys), default=0)
        body = []
        for key, raw in keys.items():
            value = _plain_text(raw)
            if "\n" in value or "`" in value:
                value = f'"""{value}"""'
            elif "#" in value or ";" in value:
                value = f"`{value}`"
            elif value != value.strip():
                value = f'"{value}"'
            body.append(f"{key.ljust(width)} = {value}\n")
        header = "" if name == "DEFAULT" else f"[{name}]\n"
        chunks.append(header + "".join(body))
    return "\n".join(chunks).encode("utf-8", "surrogateescape")


_MAX_LIST_INDEX = 10_000
"""Far more key slots than any sops file has."""


def unflatten(flat: Mapping[str, str]) -> dict[str, Any]:
    """Rebuild the metadata sops flattened with ``__map_``/``__list_`` separators."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        tokens = re.split(r"(__map_|__list_)", path)
        steps: list[str | int] = [tokens[0]]
        for kind, name in zip(tokens[1::2], tokens[2::2], strict=True):
            if kind == "__list_":
                if not (name.isascii() and name.isdigit()):
                    raise FormatError(f"metadata key {path} has a list index that is not a number")
                # The list is filled up to the index: a huge one would take all memory.
                if len(name.lstrip("0")) > 6 or int(name) > _MAX_LIST_INDEX:
                    raise FormatError(
                        f"metadata key {path} has a list index past {_MAX_LIST_INDEX}"
                    )
            steps.append(int(name) if kind == "__list_" else name)
        node: Any = root
        for step, following in itertools.pairwise(steps):
            empty: Any = {} if isinstance(following, str) else []
            if isinstance(node, dict):
                node = node.setdefault(step, empty)
            else:
                assert isinstance(step, int)
                node.extend([None] * (step + 1 - len(node)))
                node[step] = node[step] if node[step] is not None else empty
                node = node[step]
            if not isinstance(node, type(empty)):
                raise FormatError(f"metadata key {path} conflicts with another key")
        last = steps[-1]
        if isinstance(node, dict):
            node[last] = value
        else:
            assert isinstance(last, int)
            node.extend([None] * (last + 1 - len(node)))
            node[last] = value
    if "mac_only_encrypted" in root:
        root["mac_only_encrypted"] = root["mac_only_encrypted"] == "true"
    return root


# --- files -----------------------------------------------------------------------------


def format_for_path(path: str) -> FileFormat:
    """The format sops infers from a file name (Flux also reads ``.dockerconfigjson`` as JSON)."""
    name = path.lower()
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith((".json", ".dockerconfigjson")):
        return "json"
    if name.endswith(".env"):
        return "dotenv"
    if name.endswith(".ini"):
        return "ini"
    return "binary"


_MARKERS: dict[FileFormat, tuple[bytes, ...]] = {
    "yaml": (b"mac: ENC[",),
    "json": (b'"mac": "ENC[',),
    "binary": (b'"mac": "ENC[',),
    "dotenv": (b"sops_mac=ENC[",),
    "ini": (b"[sops]",),
}


def has_sops_marker(data: bytes, fmt: FileFormat) -> bool:
    """Whether ``data`` carries the metadata marker sops writes in ``fmt`` (a cheap pre-check)."""
    return any(marker in data for marker in _MARKERS[fmt])


@dataclass(frozen=True)
class SopsFile:
    """A parsed encrypted file: the tree to decrypt and its raw ``sops`` metadata."""

    branches: list[Branch]
    metadata: Any = field(repr=False)


def _split_metadata(document: Any) -> tuple[Branch, Any]:
    if not isinstance(document, dict):
        raise FormatError("the document is not a mapping")
    branch = {k: v for k, v in document.items() if k != "sops"}
    return branch, document.get("sops")


def load_file(data: bytes, fmt: FileFormat) -> SopsFile:
    """Parse an encrypted file of format ``fmt``."""
    if fmt == "yaml":
        documents = [d for d in load_yaml_documents(data) if d is not None]
        if not documents:
            raise FormatError("the YAML stream holds no document")
        split = [_split_metadata(d) for d in documents]
        return SopsFile([b for b, _ in split], split[0][1])
    if fmt in ("json", "binary"):
        branch, metadata = _split_metadata(load_json_object(data))
        if fmt == "binary" and not isinstance(branch.get("data"), str):
            raise FormatError("a sops binary file keeps its content in a 'data' string")
        return SopsFile([branch], metadata)
    if fmt == "dotenv":
        branch, flat = load_dotenv(data)
    elif fmt == "ini":
        branch, flat = load_ini(data)
    else:
        raise FormatError(f"sops has no {fmt!r} format")
    return SopsFile([branch], unflatten(flat) if flat else None)


def dump_file(branches: list[Branch], fmt: FileFormat) -> bytes:
    """Write a decrypted tree back out in format ``fmt``."""
    if fmt == "yaml":
        return dump_yaml_documents(branches)
    if len(branches) != 1:
        raise FormatError(f"its {len(branches)} YAML documents cannot be written as {fmt}")
    (branch,) = branches
    if fmt == "json":
        return dump_json_object(branch)
    if fmt == "binary":
        if "data" not in branch:
            raise FormatError("it holds no 'data' value to write out as a binary file")
        content = branch["data"]
        return content.encode("utf-8", "surrogateescape") if isinstance(content, str) else b""
    if fmt == "dotenv":
        return dump_dotenv(branch)
    return dump_ini(branch)


# --- the sops metadata block and the ENC[...] value format -----------------------------

KEY_KINDS = {
    "age": "age",
    "pgp": "PGP",
    "kms": "AWS KMS",
    "gcp_kms": "GCP KMS",
    "azure_kv": "Azure Key Vault",
    "hc_vault": "Vault transit",
}
# The order sops builds a key group in (internalGroupFrom); decryption reorders it.
_GROUP_ORDER = ("kms", "gcp_kms", "azure_kv", "hc_vault", "pgp", "age")


@dataclass(frozen=True)
class KeySlot:
    """The data key (or one Shamir share of it) encrypted for one master key."""

    kind: str
    name: str
    enc: str = field(repr=False)

    def describe(self) -> str:
        return f"{KEY_KINDS[self.kind]} {self.name}"


def _slot_name(kind: str, entry: Mapping[str, Any]) -> str:
    def get(name: str) -> str:
        return str(entry.get(name) or "")

    if kind == "age":
        return get("recipient")
    if kind == "pgp":
        return get("fp").replace(" ", "").upper()
    if kind == "kms":
        return get("arn")
    if kind == "gcp_kms":
        return get("resource_id")
    if kind == "azure_kv":
        return f"{get('vault_url')}/keys/{get('name')}/{get('version')}"
    return f"{get('vault_address')}/v1/{get('engine_path')}/keys/{get('key_name')}"


def _group(raw: Mapping[str, Any]) -> tuple[KeySlot, ...]:
    slots = []
    for kind in _GROUP_ORDER:
        entries = raw.get(kind) or []
        if not isinstance(entries, list):
            raise FormatError(f"sops.{kind} is not a list")
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("enc"), str):
                raise FormatError(f"a sops.{kind} entry has no 'enc' text")
            slots.append(KeySlot(kind, _slot_name(kind, entry), entry["enc"]))
    return tuple(slots)


def _rfc3339(raw: Any) -> str:
    """``lastmodified`` as Go re-formats it (time.RFC3339): the MAC's additional data."""
    if isinstance(raw, date):
        raw = go_time_text(raw)
    stamp = parse_timestamp(raw, strict=True) if isinstance(raw, str) else None
    if stamp is None:
        raise FormatError("sops.lastmodified is not an RFC 3339 time")
    return re.sub(r"\.\d+", "", stamp)


def _regex(raw: Mapping[str, Any], name: str) -> Pattern | None:
    """A file's own rule, compiled as sops compiles it: Go's regexp is RE2, so is this
    (the same syntax, and matching in linear time: a committed `(a+)+$` cannot hang a
    decryption, as it would with Python's backtracking `re`)."""
    pattern = raw.get(name) or ""
    if not isinstance(pattern, str):
        raise FormatError(f"sops.{name} is not a string")
    if not pattern:
        return None
    try:
        return cast(Pattern, re2.compile(pattern, _RE2_OPTIONS))
    except re2.error:
        raise FormatError(f"sops.{name} is not a valid regular expression") from None


class Pattern(Protocol):
    """What the rules need of a compiled RE2 pattern."""

    def search(self, text: str) -> object | None: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported as a FormatError, not on stderr


@dataclass(frozen=True)
class Metadata:
    """The parts of the ``sops`` block that decryption needs."""

    last_modified: str
    mac: str = field(repr=False)
    key_groups: tuple[tuple[KeySlot, ...], ...]
    shamir_threshold: int
    mac_only_encrypted: bool
    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: Pattern | None = None
    encrypted_regex: Pattern | None = None
    comment_rules: bool = False

    @property
    def slots(self) -> tuple[KeySlot, ...]:
        return tuple(slot for group in self.key_groups for slot in group)

    def should_encrypt(self, path: tuple[str, ...]) -> bool:
        """Whether sops encrypted the value at ``path`` (its rules, in its order)."""
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex and any(self.unencrypted_regex.search(p) for p in path):
            encrypted = False
        if self.encrypted_regex:
            encrypted = any(self.encrypted_regex.search(p) for p in path)
        return encrypted


def parse_metadata(raw: Any) -> Metadata:
    """Read a ``sops`` block (nested form); raises :class:`FormatError` when it is unusable."""
    if not isinstance(raw, Mapping):
        raise FormatError("there is no sops metadata")
    mac = raw.get("mac")
    if not isinstance(mac, str):
        raise FormatError("sops.mac is missing")
    if any(raw.get(kind) for kind in _GROUP_ORDER):
        groups: tuple[tuple[KeySlot, ...], ...] = (_group(raw),)
    elif isinstance(raw.get("key_groups"), list) and raw["key_groups"]:
        if not all(isinstance(g, Mapping) for g in raw["key_groups"]):
            raise FormatError("sops.key_groups holds something other than groups")
        groups = tuple(_group(g) for g in raw["key_groups"])
    else:
        raise FormatError("sops metadata names no key the data key is encrypted for")
    rules = {
        name: raw.get(name) or ""
        for name in (
            "unencrypted_suffix",
            "encrypted_suffix",
            "unencrypted_regex",
            "encrypted_regex",
        )
    }
    if sum(1 for value in rules.values() if value) > 1:
        raise FormatError("sops metadata sets more than one encrypted/unencrypted rule")
    if not any(rules.values()):
        rules["unencrypted_suffix"] = "_unencrypted"
    threshold = raw.get("shamir_threshold") or 0
    try:
        threshold = int(threshold)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(.inf)
        raise FormatError("sops.shamir_threshold is not a number") from None
    return Metadata(
        last_modified=_rfc3339(raw.get("lastmodified")),
        mac=mac,
        key_groups=groups,
        shamir_threshold=threshold,
        mac_only_encrypted=raw.get("mac_only_encrypted") in (True, "true"),
        unencrypted_suffix=str(rules["unencrypted_suffix"]),
        encrypted_suffix=str(rules["encrypted_suffix"]),
        unencrypted_regex=_regex(raw, "unencrypted_regex"),
        encrypted_regex=_regex(raw, "encrypted_regex"),
        comment_rules=bool(
            raw.get("unencrypted_comment_regex") or raw.get("encrypted_comment_regex")
        ),
    )


_ENC = re.compile(r"ENC\[AES256_GCM,data:([^,]*),iv:([^,]+),tag:([^,]+),type:([^,\]]+)\]")


@dataclass(frozen=True)
class EncryptedValue:
    """One ``ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`` value."""

    ciphertext: bytes = field(repr=False)
    iv: bytes
    tag: bytes
    type: str

    @classmethod
    def parse(cls, text: str) -> EncryptedValue:
        match = _ENC.match(text)
        if match is None:
            raise FormatError("the value is not in sops' ENC[AES256_GCM,...] form")
        try:
            data, iv, tag = (base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3))
        except binascii.Error:
            raise FormatError("the ENC[...] value holds invalid base64") from None
        return cls(data, iv, tag, match.group(4))


def looks_encrypted(value: Any) -> bool:
    return isinstance(value, str) and _ENC.match(value) is not None
