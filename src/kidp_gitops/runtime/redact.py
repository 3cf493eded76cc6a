"""Values that came from Secrets never leave the engine in words.

A value read from a Secret (a `postBuild.substituteFrom` Secret, a HelmRelease's
`valuesFrom` Secret, data a build decrypted, the data of a Secret it built) can end up
in an object that is not a Secret — a ConfigMap, an env var — and from there in a drift
report, an error message, a log line. Guessing from the text which words are secret
fails; so the code that reads such a value says so here, by where it came from, and
every way out of the engine masks it:

    REDACTOR.remember(owner, values)   values that came from Secrets for one object
    REDACTOR.text(owner, text)         `text` with those values masked (events, status)
    REDACTOR.everywhere(text)          with every owner's values masked (logs)
    REDACTOR.forget(owner)             the object is gone
    mask_logs()                        every log record masked as it is made

Each value is masked in the forms a message may quote it in: as is, base64 (a Secret's
`data`), JSON- and repr-escaped. Values shorter than `MIN_LENGTH` are not masked:
masking every `1` in a message would hide it without protecting anything a guess
would not find. A rotated value stays remembered: the old one is still a secret.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable
from typing import Any

MASK = "******"
MIN_LENGTH = 4


def _forms(value: str) -> set[str]:
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],  # as Go's %q quotes it
        repr(value)[1:-1],
    }
    forms.add(base64.b64encode(value.encode()).decode())
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Redactor:
    def __init__(self) -> None:
        self._by_owner: dict[str, frozenset[str]] = {}
        self._all: frozenset[str] | None = frozenset()
        """Every owner's values together (for logs), made again after a change."""

    def remember(self, owner: str, values: Iterable[str]) -> None:
        found = set(self._by_owner.get(owner, frozenset()))
        for value in values:
            if isinstance(value, str) and len(value) >= MIN_LENGTH:
                found |= _forms(value)
        if found:
            self._by_owner[owner] = frozenset(found)
            self._all = None

    def __bool__(self) -> bool:
        return bool(self._by_owner)

    def forget(self, owner: str) -> None:
        if self._by_owner.pop(owner, None) is not None:
            self._all = None

    def text(self, owner: str, text: str) -> str:
        return _mask(text, self._by_owner.get(owner, frozenset()))

    def everywhere(self, text: str) -> str:
        if not self._by_owner:
            return text
        if self._all is None:
            self._all = frozenset().union(*self._by_owner.values())
        return _mask(text, self._all)


def _mask(text: str, values: frozenset[str]) -> str:
    # Longest first, so a value inside a longer one never leaves a part of it behind.
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return _mask_cut(text, values)


_CUTS = ("…", "...")


def _mask_cut(text: str, values: frozenset[str]) -> str:
    """A message shortened before it reached us (a condition's limit, a long helm or
    kustomize line) may end inside a value: mask the part left before the cut — at the
    end of the text, or before an ellipsis."""
    ends = [len(text)]
    for cut in _CUTS:
        start = text.find(cut)
        while start != -1:
            ends.append(start)
            start = text.find(cut, start + 1)
    candidates = [v for v in values if v[:MIN_LENGTH] in text]
    for end in sorted(set(ends), reverse=True):
        for value in candidates:
            longest = min(len(value) - 1, end)
            for k in range(longest, MIN_LENGTH - 1, -1):
                if text[end - k : end] == value[:k]:
                    text = text[: end - k] + MASK + text[end:]
                    break
    return text


REDACTOR = Redactor()
"""The engine's one redactor: reconcilers remember, events, status and logs mask."""


def owner_key(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


def mask_logs() -> None:
    """Mask every remembered value in every log record from now on, whatever handler
    writes it: records are masked as they are made (message and traceback)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "kidp_masks", False):
        return

    def masked(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if not REDACTOR:
            return record
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: logging's own handler reports them later
            return record
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = REDACTOR.everywhere(
                logging.Formatter().formatException(record.exc_info)
            )
        hidden = REDACTOR.everywhere(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return record

    masked.kidp_masks = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked)
