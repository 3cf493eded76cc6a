"""The read-model both faces stand on: what `kidp` (cli/) and the dashboard (dashboard/)
show of GitOps objects, and the few actions both take on them.

    kinds     the kinds and the names people type for them (from `api/resources.py`),
              and what a row shows of an object: Ready, revision, suspended, its id
    times     times as people read them: kubectl's short ages
    events    Kubernetes Events of GitOps objects: when, which, as rows
    tree      what a Kustomization applied, followed into the Kustomizations it applied
    actions   reconcile now (the requestedAt annotation), suspend, resume
    diff      the preview of a change: the resource manager's plan as a diff per object
    errors    ViewError: a request neither face can serve, in one line

A face imports these modules, never the other face. The others import only the
standard library and plain data of `api/` (`resources`, `wellknown`), so `kidp
--help` and TAB completion may load them (`tests/unit/cli/test_startup.py` lists
them); `tree` and `diff` load kstatus, the inventory or the resource manager, and
the CLI imports them inside the commands that use them.
"""
