"""Benchmarks of kidp-gitops: their own entry point (`python -m bench`), never part of
the test suite, never asserting a timing.

Each run starts a fresh local control plane (`kidp_gitops.devcluster.DevCluster`), a
counting git smart-HTTP server and the engine as a separate process — exactly the
`python -m kidp_gitops controller run …` users run — then drives one scenario against
them and measures from the outside: wall time from watches, engine CPU and memory from
/proc, API requests from the engine's own Prometheus metrics (and the API server's),
git traffic from the git server.

    env.py          the world a scenario runs in: cluster, git server, engine process
    gitserver.py    `python -m bench.gitserver`: git smart HTTP that counts what it serves
    gitwork.py      bare repositories, worktrees, commits and pushes; the manifests
    watch.py        informers in the bench process: when did X become true
    measure.py      /proc readers, metric scrapes and deltas, machine facts, statistics
    profile.py      py-spy around a window, and a summary of where the time went
    report.py       the result file and the readable table
    scenarios/      one module per scenario; each returns a JSON-able dict
    runner.py       picks the scenarios and sizes (quick or full), writes the results
    suitetimes.py   a pytest plugin: each test's wall time and CPU (own, children's), to
                    see where `make test`'s time goes (not a scenario of the runner)

See bench/README.md for what each scenario measures and how to run it.
"""
