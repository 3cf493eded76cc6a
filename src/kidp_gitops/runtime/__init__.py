"""The controller runtime: what every controller stands on.

    workqueue   keys to reconcile: dedup, one key at a time, backoff, requeue-after
    reconcile   the contract: a Reconciler, its Result, and the errors that steer retries
    conditions  kstatus-compatible conditions (Ready, Reconciling, Stalled) on a status
    kstatus     health of any object, as kstatus computes it
"""
