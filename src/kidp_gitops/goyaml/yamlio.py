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
    load_text_tree(data)            every scalar as its text (a kustomization's references)
    compose(data)                   the node tree of one document, for editing in place

Every reading here is bounded: a document nesting deeper than MAX_DEPTH collections, one
whose aliases would expand it past MAX_NODES nodes, or one with an alias inside its own
anchor is refused with `TooLarge` (a `yaml.YAMLError`) before anything walks it. The
walks that follow (kustomization references, substitution, decryption) are recursive and
would otherwise take exponential time on a few hundred bytes of aliases, or overflow the
stack. `SafeLoader` is PyYAML's safe loader with the same bounds, for other modules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from typing import Any, ClassVar, cast

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.emitter import Emitter
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.representer import SafeRepresenter
from yaml.resolver import BaseResolver, Resolver
from yaml.serializer import Serializer

from kidp_gitops.goyaml import scalars

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


MAX_NODES = 100_000
"""Nodes (scalars and collections) a document with aliases may hold, every alias expanded."""

MAX_TEXT = 8 << 20
"""Characters of scalar text a document with aliases may hold, every alias expanded (an
alias to a long string is a bomb too: the MAC walk and the dumpers go through each copy)."""

MAX_DEPTH = 200
"""Collections one document may nest inside each other (real manifests stay under 50)."""


class TooLarge(yaml.MarkedYAMLError):
    """A document past MAX_DEPTH, or that its aliases take past MAX_NODES or MAX_TEXT, or
    that contains itself: refused before anything walks it. A document without aliases
    is bounded by its size alone."""

    def __init__(self, problem: str, mark: Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


_Measure = tuple[int, int, int]  # nodes and scalar characters, expanded; depth


def check_bounds(root: Node, *, aliases: bool = True) -> None:
    """Raise `TooLarge` for a composed document past the module's limits. Linear in its
    distinct nodes: each collection is measured once, whatever refers to it. Pass
    `aliases=False` when the text holds no `&` (so no anchor, nor alias): then only the
    depth needs checking, which is many times cheaper."""
    if not aliases:
        _check_depth(root)
        return
    done: dict[int, _Measure] = {}
    inside: set[int] = set()  # collections being measured: the ancestors of the current one
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in done:
            continue
        if isinstance(node, ScalarNode):  # only a document can be a lone scalar here
            done[id(node)] = (1, len(node.value), 0)
            continue
        children = _children(node)
        if id(node) not in inside:
            inside.add(id(node))
            stack.append(node)  # again, to be measured once its children are
            for child in children:
                if id(child) in inside:
                    raise TooLarge("an alias refers to a node that contains it", child.start_mark)
                if not isinstance(child, ScalarNode) and id(child) not in done:
                    stack.append(child)
            continue
        inside.discard(id(node))
        nodes, text, depth = 1, 0, 0
        for child in children:
            if isinstance(child, ScalarNode):
                nodes, text = nodes + 1, text + len(child.value)
            else:
                more_nodes, more_text, child_depth = done[id(child)]
                nodes, text = nodes + more_nodes, text + more_text
                depth = max(depth, child_depth)
        if depth >= MAX_DEPTH:
            raise TooLarge(f"collections nested deeper than {MAX_DEPTH}", node.start_mark)
        # Capped, so that the sums stay small integers: a bomb can reach 2**(its lines).
        done[id(node)] = (min(nodes, _CAP), min(text, _CAP), depth + 1)
    nodes, text, _ = done[id(root)]
    if (nodes > MAX_NODES or text > MAX_TEXT) and (nodes, text) != _distinct(root):
        too_many = f"{MAX_NODES:,} nodes" if nodes > MAX_NODES else f"{MAX_TEXT:,} characters"
        raise TooLarge(f"aliases expand the document past {too_many}", root.start_mark)


_CAP = 2**62


def _check_depth(root: Node) -> None:
    """MAX_DEPTH for a tree (no node shared): one pass over its collections, by level."""
    level = [root]
    for _ in range(MAX_DEPTH):
        below: list[Node] = []
        for node in level:
            for child in _children(node):
                if not isinstance(child, ScalarNode):
                    below.append(child)
        if not below:
            return
        level = below
    raise TooLarge(f"collections nested deeper than {MAX_DEPTH}", level[0].start_mark)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, SequenceNode) else []


def _distinct(root: Node) -> tuple[int, int]:
    """Nodes and scalar characters of a document counting each node once: what it holds
    without its aliases expanded. Only needed for documents past the limits."""
    seen = {id(root)}
    nodes, text = 0, 0
    stack = [root]
    while stack:
        node = stack.pop()
        nodes += 1
        if isinstance(node, ScalarNode):
            text += len(node.value)
            continue
        for child in _children(node):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return nodes, text


class _Bounded(SafeConstructor):
    """Checks each document against the limits before constructing it."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self.anchors_possible = _may_hold_anchors(stream)

    def construct_document(self, node: Node) -> Any:
        check_bounds(node, aliases=self.anchors_possible)
        return super().construct_document(node)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, IndexError, AttributeError) as err:
            # PyYAML's constructors for explicit tags fail this way on a bad value
            # (`!!int 1e3`, `!!int`, `!!bool x`, `!!timestamp x`): a YAML error here.
            raise ConstructorError(
                None, None, f"{node.tag} cannot hold this value", node.start_mark
            ) from err


def _may_hold_anchors(data: Any) -> bool:
    # Every anchor is written with "&", in UTF-8 and UTF-16 alike.
    if isinstance(data, str):
        return "&" in data
    return not isinstance(data, bytes) or b"&" in data


_PLAIN = "tag:kidp.dev,2024:plain"
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


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
    """The value of an unquoted scalar, as yaml.v3 (or v2) followed by JSON gives it:
    `scalars.resolve`, with timestamps kept as text (kustomize prints them back as
    written) and floats as Go's encoding/json reads them back."""
    if strict and text == "<<":
        raise Unsupported("merge key")
    value = scalars.resolve(text, v2=v2)
    if isinstance(value, scalars.Timestamp):
        if strict:
            raise Unsupported(f"timestamp {text!r}")
        return text
    if isinstance(value, float):
        return _json_number(value, strict=strict)
    return value


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


class _Constructor(_Bounded):
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
        _Constructor.__init__(self, stream)
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
    # Not a literal block with NEL in it: written raw there, it reads back as "\n".
    literal = "\n" in data and "\x85" not in data
    return dumper.represent_scalar(_STR, data, style="|" if literal else None)


_SubstitutionDumper.add_representer(str, _represent_str)


def dump_for_substitution(obj: Any) -> str:
    """One object as the YAML text kustomize prints for it (up to key order)."""
    text: str = yaml.dump(obj, Dumper=_SubstitutionDumper)
    return text


class _TextResolver(BaseResolver):
    """Plain scalars stay strings; only merge keys keep their meaning."""


_TextResolver.add_implicit_resolver(_MERGE, re.compile(r"^<<$"), ["<"])


class _TextLoader(_Parser, _Bounded, _TextResolver):
    def __init__(self, stream: Any) -> None:
        _Parser.__init__(self, stream)
        _Bounded.__init__(self, stream)
        _TextResolver.__init__(self)


def load_text_tree(data: str | bytes) -> list[Any]:
    """The documents of a YAML stream with every scalar as its text (None for empty
    documents): how a kustomization's file references read, whatever they look like."""
    return _documents(data, _TextLoader)


class SafeLoader(_Parser, _Bounded, Resolver):
    """yaml.SafeLoader (on libyaml, whose parser stops nesting at 1,000 levels where the
    pure-Python one overflows the stack) with this module's bounds."""

    def __init__(self, stream: Any) -> None:
        _Parser.__init__(self, stream)
        _Bounded.__init__(self, stream)
        Resolver.__init__(self)


def compose(data: str | bytes) -> Node | None:
    """The node tree of a one-document stream (None when empty), with yaml.SafeLoader's
    tags; raises yaml.YAMLError, `TooLarge` included."""
    node: Node | None = yaml.compose(data, Loader=cast("type[yaml.SafeLoader]", SafeLoader))
    if node is not None:
        check_bounds(node, aliases=_may_hold_anchors(data))
    return node


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
