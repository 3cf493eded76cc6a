"""Per-phase timing of the engine, for questions a profile does not answer ("where do
the 0.8 s between a push and its apply go?").

    KIDP_BENCH_PHASES=DIR PYTHONPATH=bench/phases:src:. python -m bench --only push …
    python -m bench.phases.summary DIR

`sitecustomize` (loaded by Python at start-up from the `PYTHONPATH` entry; it does
nothing unless `KIDP_BENCH_PHASES` is set and the process is `controller run`) wraps
the functions of `TARGETS` and records each call's start and end on the monotonic clock,
every hand-off to a worker thread with its wait in the pool's queue, and the event
loop's lateness (a 5 ms timer checked), into `DIR/phases-<pid>.tsv`. `summary` cuts the
records into commits (a GitRepository reconcile that stored an artifact, then the
Kustomization reconcile that applied it) and prints the median of each phase. It wraps
by name: a function a tree does not have is skipped with a note, so the same files time
an older tree (`git worktree add /tmp/wt-before <commit>`) and the current one.
"""
