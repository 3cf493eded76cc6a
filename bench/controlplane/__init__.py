"""What the local control plane costs: CPU per 1,000 requests and per idle minute (issue 13).

    python -m bench.controlplane                                # as devcluster starts it
    python -m bench.controlplane --variants defaults,baseline --repeat 3
    python -m bench.controlplane --variants defaults,defaults+no-apf,defaults+gogc200
    python -m bench.controlplane --set kube-apiserver:--watch-cache=false --env etcd:GOGC=200
    python -m bench.controlplane --report a.json b.json         # one table of several runs

Each run starts a fresh local control plane (`DevCluster`: the flags and environment
devcluster/components.py gives each component, changed by the variant: variants.py),
installs kidp's CRDs and RBAC as the tests do, waits `--settle` seconds for the start-up
work to end, measures `--idle` seconds in which
nothing of ours sends a request, then sends the fixed LOAD below and waits until its
namespaces are gone (the namespace controller's sweep is part of what a test's namespace
costs) and `--drain` seconds more. CPU is each component's user+system time from
/proc/PID/stat. The load's cost is its window's CPU less the idle rate over that window
(`net`); it is divided by the load's own requests, a fixed number, so a variant that
makes the controllers send fewer requests shows as cheaper, as it is. Variants run
interleaved (a, b, a, b), each run on a control plane of its own. Nothing asserted: a
measurement. Results: bench/results/controlplane-<time>.json and the table it prints.

The LOAD, `--n N` (default 300) sized, over four namespaces, in the shapes the tests and
the engine send (8 requests at a time):
- informers: a list and a watch, cluster-wide, of ConfigMaps (three), GitRepositories,
  Deployments and namespaces, open for the whole load (their events are served to them);
- N ConfigMaps created, each read, N/10 lists of a namespace's, each merge-patched;
- N ConfigMaps server-side applied, then each applied again as a dry run and for real
  (no change): the engine's plan-then-apply;
- N/4 GitRepositories (kidp's CRD) applied, each with a status patch;
- a ServiceAccount with a Role and its binding, and N/4 reads as that ServiceAccount
  (impersonated: RBAC decides each);
- 4 Deployments of 2 replicas, applied and awaited Available (controller-manager,
  scheduler, kwok), then the four namespaces deleted and awaited gone.
"""
