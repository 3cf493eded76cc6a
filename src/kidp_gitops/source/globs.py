"""Glob patterns as Flux's source-watcher reads them, over a tree on disk.

Two dialects, because source-watcher uses two Go matchers:

    Go's `path.Match` (`fs.Glob`)   `*` and `?` stay inside one path segment, `**` is just
                                    two stars; `[...]` classes, `^` negates, `\\` escapes.
                                    A copy's `from` glob, with Overwrite or Merge.
    doublestar                      the same, plus a `**` segment spanning any number of
                                    segments (none included), `{a,b}` alternatives, and
                                    `!` negating a class too. Extract's `from` and `exclude`.

Written here because neither dialect is in the standard library: `fnmatch` lets `*`
cross `/`, and `glob` follows symbolic links and hides dot files. A pattern compiles to
one anchored regular expression (linear in the path), so a hostile pattern costs no more
than a plain one. `glob` walks the tree without following symbolic links to directories.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MAGIC = frozenset("*?[]")
"""The characters that make a `from` a pattern rather than a path (source-watcher's)."""


class PatternError(ValueError):
    """A malformed pattern (an unclosed class or alternative, a trailing escape)."""


def has_magic(text: str) -> bool:
    return any(c in MAGIC for c in text)


def compile_pattern(pattern: str, *, recursive: bool) -> re.Pattern[str]:
    """`pattern` as a regular expression matching whole slash-separated paths;
    `recursive` selects doublestar's dialect."""
    if not recursive:
        return re.compile(_segment(pattern, recursive=False))
    segments = pattern.split("/")
    last = len(segments) - 1
    out = ""
    for i, segment in enumerate(segments):
        if segment == "**":
            if i == 0 and i == last:
                out += ".*"
            elif i == 0:
                out += "(?:.*/)?"  # any leading segments, each ending in '/'
            else:
                out += "(?:/.*)?"  # any further segments, none included
            continue
        if i > 0 and not (i == 1 and segments[0] == "**"):
            out += "/"
        out += _segment(segment, recursive=True)
    return re.compile(out)


def matches(pattern: re.Pattern[str], path: str) -> bool:
    return pattern.fullmatch(path) is not None


def _segment(text: str, *, recursive: bool) -> str:
    """One segment (or, in Go's dialect, the whole pattern: `/` is a literal there)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "*":
            while i + 1 < len(text) and text[i + 1] == "*":
                i += 1  # a run of stars inside a segment is one star
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            i, cls = _class(text, i, recursive=recursive)
            out.append(cls)
        elif c == "\\":
            if i + 1 >= len(text):
                raise PatternError(f"syntax error in pattern '{text}': trailing escape")
            i += 1
            out.append(re.escape(text[i]))
        elif c == "{" and recursive:
            end = _closing_brace(text, i)
            alternatives = _split_alternatives(text[i + 1 : end])
            out.append("(?:" + "|".join(_segment(a, recursive=True) for a in alternatives) + ")")
            i = end
        elif c == "]":
            raise PatternError(f"syntax error in pattern '{text}': unopened ']'")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _class(text: str, start: int, *, recursive: bool) -> tuple[int, str]:
    """The class opening at `start`: (index of its ']', its regex)."""
    i = start + 1
    negate = i < len(text) and (text[i] == "^" or (recursive and text[i] == "!"))
    if negate:
        i += 1
    body: list[str] = []
    while i < len(text) and text[i] != "]":
        c = text[i]
        if c == "\\":
            i += 1
            if i >= len(text):
                break
            c = text[i]
        if c == "/":
            raise PatternError(f"syntax error in pattern '{text}': '/' in a class")
        if i + 2 < len(text) and text[i + 1] == "-" and text[i + 2] != "]":
            hi = text[i + 2]
            if hi < c:
                raise PatternError(f"syntax error in pattern '{text}': bad range")
            body.append(f"{re.escape(c)}-{re.escape(hi)}")
            i += 3
            continue
        body.append(re.escape(c))
        i += 1
    if i >= len(text) or not body:
        raise PatternError(f"syntax error in pattern '{text}': unclosed or empty class")
    return i, ("[^/" if negate else "[") + "".join(body) + "]"


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise PatternError(f"syntax error in pattern '{text}': unclosed '{{'")


def _split_alternatives(body: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for c in body:
        if c == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        current += c
    return [*parts, current]


def glob(root: Path, pattern: str, *, recursive: bool) -> list[str]:
    """The paths under `root` (files and directories, relative, slash-separated, sorted)
    that `pattern` matches. Symbolic links are listed, never followed into."""
    compiled = compile_pattern(pattern, recursive=recursive)
    # Go's dialect cannot match deeper than its segments: walk no deeper.
    depth = None if recursive and "**" in pattern else pattern.count("/") + 1
    found: list[str] = []
    for rel in walk(root, depth):
        if compiled.fullmatch(rel):
            found.append(rel)
    return sorted(found)


def walk(root: Path, depth: int | None = None) -> list[str]:
    """Every path under `root`, relative and slash-separated, down to `depth` segments."""
    out: list[str] = []
    for current, dirs, files in os.walk(root):  # followlinks=False: a link is an entry
        rel_dir = Path(current).relative_to(root).as_posix()
        level = 0 if rel_dir == "." else rel_dir.count("/") + 1
        for name in (*dirs, *files):
            out.append(name if rel_dir == "." else f"{rel_dir}/{name}")
        if depth is not None and level + 1 >= depth:
            dirs.clear()
    return out
