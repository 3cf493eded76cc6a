"""How many control planes one run of the integration suite starts, and why each.

Each start costs seconds and half a GiB; one shared control plane, a namespace per test,
is the rule. The exceptions, each for a reason, are the budget below; the test in
test_zz_control_planes.py fails when a run starts more.
"""

from __future__ import annotations

from collections import Counter

BUDGET = Counter(
    {
        # The one every test shares (conftest.py: `cluster`).
        "tests/integration/conftest.py": 1,
        # `bare_cluster`: engines a test starts itself (with lockdown flags, low build
        # limits, or stopped and restarted), where the session's engine would act too;
        # test_restart counts the API server's own requests; and (cli/conftest.py
        # `own_cluster`, which puts it back for the tests after) commands that change the
        # whole cluster — uninstall removes the CRDs; bootstrap writes flux-system,
        # whose Kustomization takes over kidp's CRDs, and syncs it.
        "tests/integration/conftest.py/bare": 1,
        # The control plane's own lifecycle: a failed start, and down stopping every process.
        "tests/integration/test_devcluster.py": 2,
        # `kidp up` end to end: its own control plane is what it is about.
        "tests/integration/cli/test_up.py": 1,
    }
)

STARTS: Counter[str] = Counter()
"""Starts in this run, by the file (and fixture) that asked for them."""
