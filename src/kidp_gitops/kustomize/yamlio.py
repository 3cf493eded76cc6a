"""YAML as kustomize and Flux read and write it.

kustomize reads manifests with Go's yaml.v3 (YAML 1.2 booleans, Go integer syntax,
timestamps) and prints every object through JSON, so `1.0` comes out as `1`, `0755` as
`493` and `yes` stays a string. Flux then reads substituted text with yaml.v2, where `yes`
and `on` are booleans. PyYAML's defaults (YAML 1.1, sexagesimal numbers, dates) match
neither, so this module resolves plain scalars itself:

    load_manifests(data)            kustomize's output, or files as kustomize would read them
    load_manifests(data, strict=True)
                                    same, but raises `Unsupported` for anything whose reading
                                    only kustomize can decide (timestamps, tags, aliases,
                                    duplicate keys, merge keys, infinities)
    dump_for_substitution(obj)      the text Flux substitutes into: plain where possible,
                                    double quotes where a plain scalar would change type,
                                    literal blocks for multi-line strings
    load_substituted(text)          that text after substitution, read as Flux reads it
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from typing import Any, ClassVar, cast

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.emitter import Emitter
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.representer import SafeRepresenter
from yaml.resolver import BaseResolver
from yaml.serializer import Serializer

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: Any) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


class Unsupported(Exception):
    """The YAML uses a construct whose meaning only kustomize itself can settle."""


_PLAIN = "tag:kidp.dev,2024:plain"
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE_V3 = frozenset({"true", "True", "TRUE"})
_FALSE_V3 = frozenset({"false", "False", "FALSE"})
_TRUE_V2 = _TRUE_V3 | {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"}
_FALSE_V2 = _FALSE_V3 | {"n", "N", "no", "No", "NO", "off", "Off", "OFF"}
_SPECIAL_FLOATS = {
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
}
_GO_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?")
_NUMERIC_START = frozenset("-+.0123456789")


def _go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), then ParseUint: what yaml.v2/v3 accept as an integer."""
    match = _GO_INT.fullmatch(text)
    if not match:
        return None
    sign, body = match.groups()
    if body[:2] in ("0x", "0X", "0o", "0O", "0b", "0B"):
        value = int(body, 0)
    elif body.startswith("0") and len(body) > 1:
        value = int(body[1:], 8)
    else:
        value = int(body)
    if sign == "-":
        value = -value
    if -(2**63) <= value < 2**64 and not (sign and value >= 2**63):
        return value
    return None


def _json_number(value: float, *, strict: bool) -> int | float:
    """A float as it reads back after Go's encoding/json printed it."""
    if math.isinf(value) or math.isnan(value):
        if strict:
            raise Unsupported(f"{value} has no JSON form")
        return value
    if value.is_integer() and abs(value) < 1e21:
        whole = int(value)
        if -(2**63) <= whole < 2**64:
            return whole
    return value


def resolve_plain(text: str, *, v2: bool = False, strict: bool = False) -> Any:
    """The value of an unquoted scalar, as yaml.v3 (or v2) followed by JSON gives it."""
    if text in _NULLS:
        return None
    if text in (_TRUE_V2 if v2 else _TRUE_V3):
        return True
    if text in (_FALSE_V2 if v2 else _FALSE_V3):
        return False
    if text in _SPECIAL_FLOATS:
        return _json_number(_SPECIAL_FLOATS[text], strict=strict)
    if text[0] not in _NUMERIC_START:
        if strict and text == "<<":
            raise Unsupported("merge key")
        return text
    if not v2 and _TIMESTAMP.fullmatch(text):
        if strict:
            raise Unsupported(f"timestamp {text!r}")
        return text
    plain = text.replace("_", "")
    as_int = _go_int(plain)
    if as_int is not None:
        return as_int
    if _GO_FLOAT.fullmatch(plain):
        return _json_number(float(plain), strict=strict)
    return text


class _Resolver(BaseResolver):
    """Every plain scalar gets one tag; the constructor decides what it means."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0]:
                return _STR
            return _MERGE if value == "<<" else _PLAIN
        return _SEQ if kind is SequenceNode else _MAP


def _go_key(key: Any) -> str:
    """A non-string mapping key as Go's JSON conversion spells it."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


class _Constructor(SafeConstructor):
    strict: ClassVar[bool] = False
    v2: ClassVar[bool] = False
    _allowed_tags: ClassVar[frozenset[str]] = frozenset({_PLAIN, _STR, _MAP, _SEQ})

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if self.strict:
            if node in self.constructed_objects:
                raise Unsupported("YAML alias")
            if node.tag not in self._allowed_tags:
                raise Unsupported(f"YAML tag {node.tag}")
        return super().construct_object(node, deep=deep)

    def construct_plain(self, node: ScalarNode) -> Any:
        return resolve_plain(node.value, v2=self.v2, strict=self.strict)

    def flatten_mapping(self, node: MappingNode) -> None:
        if self.strict and any(key.tag == _MERGE for key, _ in node.value):
            raise Unsupported("merge key")
        super().flatten_mapping(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, "expected a mapping node", node.start_mark)
        self.flatten_mapping(node)
        mapping: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                if self.strict:
                    raise Unsupported(f"non-string key {key!r}")
                key = _go_key(key)
            if self.strict and key in mapping:
                raise Unsupported(f"duplicate key {key!r}")
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_Constructor.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    _PLAIN: _Constructor.construct_plain,
}


class _ManifestLoader(_Parser, _Constructor, _Resolver):
    def __init__(self, stream: Any) -> None:
        _Parser.__init__(self, stream)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


class _StrictManifestLoader(_ManifestLoader):
    strict = True


class _SubstitutedLoader(_ManifestLoader):
    v2 = True


def _documents(data: str | bytes, loader: type[Any]) -> list[Any]:
    # Our loaders are SafeLoader-shaped; the stubs only name PyYAML's own classes.
    return list(yaml.load_all(data, Loader=cast("type[yaml.SafeLoader]", loader)))


def load_manifests(data: str | bytes, *, strict: bool = False) -> list[Any]:
    """Every non-empty document of a YAML stream. Raises yaml.YAMLError on bad YAML and,
    with `strict`, `Unsupported` (see the module docstring)."""
    loader = _StrictManifestLoader if strict else _ManifestLoader
    return [doc for doc in _documents(data, loader) if doc is not None]


def load_substituted(text: str) -> list[Any]:
    """The documents of substituted text, with yaml.v2's reading of plain scalars."""
    return [doc for doc in _documents(text, _SubstitutedLoader) if doc is not None]


class _QuotingResolver(BaseResolver):
    """Tells the serializer which plain scalars would read back as something else."""

    _tags: ClassVar[dict[type, str]] = {
        type(None): "tag:yaml.org,2002:null",
        bool: "tag:yaml.org,2002:bool",
        int: "tag:yaml.org,2002:int",
        float: "tag:yaml.org,2002:float",
        str: _STR,
    }

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if not implicit[0]:
                return _STR
            if value == "<<":
                return _MERGE
            return self._tags[type(resolve_plain(value, v2=True))]
        return _SEQ if kind is SequenceNode else _MAP


class _DoubleQuotingEmitter(Emitter):
    """Quotes like Go's encoder: double quotes whenever a scalar cannot stay plain."""

    def choose_scalar_style(self) -> str:
        style: str = super().choose_scalar_style()
        return '"' if style == "'" else style


class _SubstitutionDumper(_DoubleQuotingEmitter, Serializer, SafeRepresenter, _QuotingResolver):
    def __init__(self, stream: Any, **kwds: Any) -> None:
        _DoubleQuotingEmitter.__init__(
            self, stream, allow_unicode=True, width=2**30, indent=2, line_break="\n"
        )
        Serializer.__init__(self, explicit_start=False, explicit_end=False)
        SafeRepresenter.__init__(self, default_flow_style=False, sort_keys=False)
        _QuotingResolver.__init__(self)


def _represent_str(dumper: SafeRepresenter, data: str) -> ScalarNode:
    return dumper.represent_scalar(_STR, data, style="|" if "\n" in data else None)


_SubstitutionDumper.add_representer(str, _represent_str)


def dump_for_substitution(obj: Any) -> str:
    """One object as the YAML text kustomize prints for it (up to key order)."""
    text: str = yaml.dump(obj, Dumper=_SubstitutionDumper)
    return text


class _TextResolver(BaseResolver):
    """Plain scalars stay strings; only merge keys keep their meaning."""


_TextResolver.add_implicit_resolver(_MERGE, re.compile(r"^<<$"), ["<"])


class _TextLoader(_Parser, SafeConstructor, _TextResolver):
    def __init__(self, stream: Any) -> None:
        _Parser.__init__(self, stream)
        SafeConstructor.__init__(self)
        _TextResolver.__init__(self)


def load_text_tree(data: str | bytes) -> list[Any]:
    """The documents of a YAML stream with every scalar as its text (None for empty
    documents): how a kustomization's file references read, whatever they look like."""
    return _documents(data, _TextLoader)


def describe(err: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where, without quoting the text."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem:
        where = ""
        if err.problem_mark is not None:
            mark = err.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        context = f"{err.context}: " if err.context else ""
        return f"{context}{err.problem}{where}"
    return " ".join(str(err).split())
