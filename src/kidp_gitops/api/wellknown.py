"""Well-known annotations of Flux's API that kidp writes as well as reads, named once
for the faces and the controllers. Plain strings: any command may load this module."""

from __future__ import annotations

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
"""Set to a fresh timestamp to ask for a reconcile now; the controller reports the value
it handled in `status.lastHandledReconcileAt`."""
