"""The typed status of one reconcile: parsed once from the wire, dumped back to it.

Where it fits: `lifecycle` keeps the status as the API server sends it (a dict), because
the status patch is computed between two dicts (`kube.patch.merge_patch`). A typed
reconciler works on the status model of its kind from `api/` instead; `parse` turns the
dict into that model before the reconciler's steps and `dump` turns it back after them.

The round trip must not write what nobody changed, or every interval reconcile of an
unchanged object would patch its status:

- fields kidp does not model (a newer Flux's, or a newer kidp's) are kept, as
  `StatusModel` allows extra fields, and dumped under the name they came with;
- only fields that were present, or that the reconciler assigned, are dumped
  (`exclude_unset`), so a default never appears by itself;
- None means absent (`exclude_none`): assigning None to a field removes it;
- timestamps are metav1.Time, RFC 3339 at second precision: `now()` gives one, and a
  "…Z" timestamp read from the wire dumps back as the same string.

A status that does not validate as a whole (written by something that is not a
controller of ours) is read field by field: the fields that validate are kept, the
others are dropped on the next write, as `conditions` drops entries that are not
conditions.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from kidp_gitops.api import meta

log = logging.getLogger(__name__)

S = TypeVar("S", bound=meta.ObjectStatus)


def parse(model: type[S], data: dict[str, Any]) -> S:
    """`data` (a `status` as the API server holds it) as `model`."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        kept: dict[str, Any] = {}
        for key, value in data.items():
            try:
                model.model_validate({key: value})
            except ValidationError:
                continue
            kept[key] = value
        dropped = sorted(set(data) - set(kept))
        log.warning("status fields %s do not read as %s: %s", dropped, model.__name__, err)
        return model.model_validate(kept)


def dump(status: meta.ObjectStatus) -> dict[str, Any]:
    """`status` as the API server holds it: JSON names, only what is set, no nulls."""
    return dump_model(status)


def dump_model(model: meta.StatusModel) -> dict[str, Any]:
    """Any part of a status (an artifact) as the API server holds it, as `dump`."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


def now() -> datetime:
    """The time now, at the precision of metav1.Time (whole seconds, UTC)."""
    return datetime.now(UTC).replace(microsecond=0)
