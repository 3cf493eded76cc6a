"""CEL (Common Expression Language), as Flux's controllers evaluate it.

Where it fits: a foundation package, next to `proc` and `goyaml`. The expressions come
from the objects users write (a Kustomization's `healthCheckExprs` and
`dependsOn[].readyExpr`, a Receiver's `resourceFilter`), so they are checked where the
object is first read — `runtime.lifecycle` stalls the object, `kidp validate` reports
it — and evaluated only in a worker process bounded in time and memory.

    expression   the environments Flux declares; compile (cached by text) and check
    fields       which fields of which kinds hold expressions, and their problems
    evaluator    evaluate off the event loop, in the bounded worker (`worker`)
"""
