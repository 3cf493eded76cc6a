"""The controller runtime: what every controller stands on.

- workqueue: keys to reconcile (dedup, one key at a time, backoff, requeue-after)
- reconcile: the contract (a Reconciler, its Result, the errors that steer retries)
- controller: an informer feeding a queue drained by workers through a reconciler
- manager: a process's controllers, leader lease, metrics and probes
- lifecycle: set-up, guards and the one status patch shared by Flux-object reconcilers
  (TypedReconciler: the object and its status as their api/ models)
- status: a typed status parsed from, and dumped back to, the wire form the patch compares
- failures: one table per controller saying what each failure leads to (stall/wait/retry)
- context: the one typed value every controller's factory is built from
- conditions: kstatus-compatible conditions (Ready, Reconciling, Stalled)
- kstatus: health of any object, as kstatus computes it
- events: Kubernetes Events, aggregated; metrics: Prometheus metrics
- secrets: reading a Secret (or ConfigMap) an object refers to (a missing credential is retried)
- credentials: what a Secret's keys mean (TLS context, basic auth, bearer token)
- outbound: the one owner of the controllers' outbound HTTP (pool, timeouts, TLS, proxies)
- registryauth: a container registry's pull secrets and its 401 challenge (token flow)
- transform: Helm values merged as Flux merges them
"""
