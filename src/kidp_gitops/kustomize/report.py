"""What a Kustomization tells people about an apply: events, the Drifted condition, the
drift metrics.

    applied        one "Progressing" event listing what was created, configured, deleted
    corrected      one "DriftCorrected" event listing the fields put back
    protected      the drift of objects we may not overwrite: a Warning event, the
                   `drifted` gauge, and what the Drifted condition says (a readable diff)

Every event carries the revision as an annotation, which Alerts pass on as metadata.
A Secret's changes name its keys only, never a value.
"""

from __future__ import annotations

from kidp_gitops.kube.client import JSON
from kidp_gitops.kube.ssa import Applied
from kidp_gitops.kustomize.inventory import ObjRef
from kidp_gitops.runtime import metrics, redact
from kidp_gitops.runtime.events import EventRecorder

KIND = "Kustomization"
DRIFTED = "Drifted"
DRIFT_CORRECTED = "DriftCorrected"
REVISION = "kustomize.toolkit.fluxcd.io/revision"
_MAX_CHANGE = 120


def applied(
    events: EventRecorder,
    obj: JSON,
    revision: str,
    results: list[Applied],
    deleted: list[ObjRef],
) -> None:
    lines = [f"{a.ref} {a.action}" for a in results if a.action in ("created", "configured")]
    lines += [f"{r} deleted" for r in deleted]
    if lines:
        events.record(obj, "Normal", "Progressing", "\n".join(lines), {REVISION: revision})


def corrected(events: EventRecorder, obj: JSON, revision: str, results: list[Applied]) -> None:
    done = [a for a in results if a.action in ("created", "configured")]
    if not done:
        return
    lines = [f"{a.ref} {changes(a, obj) or a.action}" for a in done]
    events.record(obj, "Normal", DRIFT_CORRECTED, "\n".join(lines), {REVISION: revision})
    meta = obj["metadata"]
    metrics.DRIFT_CORRECTIONS.labels(KIND, meta["name"], meta["namespace"]).inc(len(done))


def protected(
    events: EventRecorder, obj: JSON, results: list[Applied], revision: str
) -> str | None:
    """Report the drift of protected objects; returns what the Drifted condition says
    (None: no protected object drifted, the condition goes)."""
    meta = obj["metadata"]
    drifted = [a for a in results if a.action == "protected" and a.changed]
    metrics.DRIFTED.labels(KIND, meta["name"], meta["namespace"]).set(len(drifted))
    if not drifted:
        return None
    message = "; ".join(f"{a.ref}: {changes(a, obj)}" for a in drifted)
    events.record(obj, "Warning", DRIFTED, message, {REVISION: revision})
    return f"protected objects differ from Git (not corrected): {message}"


def changes(result: Applied, owner: JSON) -> str:
    """The fields that differed from Git; of a Secret only their names, no values;
    elsewhere no value that came from one of `owner`'s Secrets (masked before a long
    line is shortened, so no cut value escapes the mask)."""
    if result.ref.kind == "Secret" and not result.ref.group:
        return ", ".join(c.split(": ", 1)[0] for c in result.changed)
    meta = owner["metadata"]
    key = redact.owner_key(KIND, meta["namespace"], meta["name"])
    return ", ".join(_short(redact.REDACTOR.text(key, c)) for c in result.changed)


def _short(line: str, limit: int = _MAX_CHANGE) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."
