"""Comparing what an apply would store with what the server holds.

`comparable` strips what the server manages by itself (managedFields, resourceVersion,
status…); `projection` cuts a live object down to the fields a manifest sets, so a
change by others (controllers, defaults) is not mistaken for drift; `diff_paths` says
how two projections differ in readable paths (`spec.replicas: 1 → 3`) and `pointers`
in JSON pointers (`/spec/replicas`), as Helm's drift detection reports them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

from kidp_gitops.kube.patch import pointer

# Metadata the server writes on every change, never set by a manifest.
BOOKKEEPING = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


def comparable(obj: dict[str, Any], without: Sequence[str] = ()) -> dict[str, Any]:
    """`obj` without status, the server's bookkeeping metadata and the values at the
    JSON pointers `without`."""
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in BOOKKEEPING:
        meta.pop(key, None)
    for at in without:
        remove(out, at)
    return out


def projection(desired: Any, actual: Any) -> Any:
    """`actual` cut down to the shape of `desired`: the fields a manifest sets, with the
    values the server holds for them (lists whole). Comparing the projection of the
    live object with that of the applied one tells whether someone changed a field we
    manage, ignoring everything others (controllers, defaults) own."""
    if isinstance(desired, dict) and isinstance(actual, dict):
        return {k: projection(v, actual.get(k)) for k, v in desired.items() if k not in ("status",)}
    return actual


def diff_paths(live: Any, desired: Any, prefix: str = "", *, secret: bool = False) -> list[str]:
    """Readable differences between two projections: `spec.replicas: 1 → 3`. Lists of
    named entries are compared entry by entry (`…containers[name=web].ports
    [containerPort=8080]: present → absent`); a Secret's values are never shown."""
    if isinstance(live, dict) and isinstance(desired, dict):
        out: list[str] = []
        for key in sorted(set(live) | set(desired), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            out += diff_paths(
                live.get(key, _ABSENT), desired.get(key, _ABSENT), path, secret=secret
            )
        return out
    if isinstance(live, list) or isinstance(desired, list):
        entries = _keyed(live, desired)
        if entries is not None:
            out = []
            for label, (old, new) in entries.items():
                out += diff_paths(old, new, f"{prefix}[{label}]", secret=secret)
            return out
    if live == desired:
        return []
    hidden = secret and prefix.split(".")[0] in ("data", "stringData")

    def short(v: Any) -> str:
        if v is _ABSENT:
            return "absent"
        if hidden:
            return "******"
        if isinstance(v, (dict, list)):
            return "present" if live is _ABSENT or desired is _ABSENT else type(v).__name__
        # Whole: a value from a Secret is masked by the report (runtime/redact), which
        # cannot recognise a cut one; the report shortens lines after masking.
        return repr(v)

    return [f"{prefix}: {short(live)} → {short(desired)}"]


class _Absent:
    """A key or list entry one side does not have."""

    def __repr__(self) -> str:
        return "absent"


_ABSENT: Any = _Absent()
# Keys that name a list's entries (the merge keys of the Kubernetes API's common lists).
_LIST_KEYS = ("name", "containerPort", "port", "mountPath", "devicePath", "ip")


def _keyed(live: Any, desired: Any) -> dict[str, tuple[Any, Any]] | None:
    """The entries of two lists (a missing list counts as empty) paired by a key that
    names every entry once, or by position when the lengths agree; None otherwise."""
    old = live if isinstance(live, list) else [] if live in (None, _ABSENT) else None
    new = desired if isinstance(desired, list) else [] if desired in (None, _ABSENT) else None
    if old is None or new is None:
        return None
    for key in _LIST_KEYS:
        if all(isinstance(e, dict) and key in e for e in old + new):
            old_by = {str(e[key]): e for e in old}
            new_by = {str(e[key]): e for e in new}
            if len(old_by) == len(old) and len(new_by) == len(new):
                names = list(old_by) + [n for n in new_by if n not in old_by]
                return {
                    f"{key}={n}": (old_by.get(n, _ABSENT), new_by.get(n, _ABSENT)) for n in names
                }
    if len(old) == len(new) and old and isinstance(live, list) and isinstance(desired, list):
        return {str(i): pair for i, pair in enumerate(zip(old, new, strict=True))}
    return None


def pointers(a: Any, b: Any, at: str = "") -> Iterator[str]:
    """JSON pointers where `a` and `b` differ (the shallowest that do)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from pointers(a.get(key), b.get(key), at + pointer(str(key)))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from pointers(x, y, f"{at}/{i}")
    elif a != b:
        yield at or "/"


def _tokens(at: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in at.split("/")[1:]]


def take(desired: dict[str, Any], live: dict[str, Any], at: str) -> None:
    """Give `desired` the live value at `at` (or none, when live has none)."""
    tokens = _tokens(at)
    node: Any = live
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            remove(desired, at)
            return
    target: Any = desired
    for token in tokens[:-1]:
        if isinstance(target, dict):
            target = target.setdefault(token, {})
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            return
    if isinstance(target, dict) and tokens:
        target[tokens[-1]] = copy.deepcopy(node)
    elif (
        isinstance(target, list)
        and tokens
        and tokens[-1].isdigit()
        and int(tokens[-1]) < len(target)
    ):
        target[int(tokens[-1])] = copy.deepcopy(node)


def remove(obj: dict[str, Any], at: str) -> None:
    """Delete the value at a JSON pointer, if there is one."""
    tokens = _tokens(at)
    node: Any = obj
    for token in tokens[:-1]:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return
    if not tokens:
        return
    last = tokens[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]
