"""The control-plane cost bench: how a variant changes a component's command line and
environment, and the table of medians it prints."""

from __future__ import annotations

from typing import Any

from bench.controlplane import variants
from bench.controlplane.__main__ import table

from kidp_gitops.devcluster import components


def test_a_flag_replaces_the_same_flag_or_is_added_and_a_prefix_removes() -> None:
    v = variants.Variant(
        "x",
        {
            "kube-apiserver": [
                "--profiling=true",
                "--enable-priority-and-fairness=false",
                "!--audit-",
            ]
        },
    )
    before = ["--profiling=false", "--audit-log-path=/a", "--audit-policy-file=/p", "--x=1"]
    assert v.command_line("kube-apiserver", before) == [
        "--x=1",
        "--profiling=true",
        "--enable-priority-and-fairness=false",
    ]
    assert v.command_line("etcd", before) == before


def test_every_component_gets_the_star_environment_under_its_own() -> None:
    v = variants.Variant("x", env={"*": {"GOGC": "200", "A": "1"}, "etcd": {"GOGC": "400"}})
    assert v.environment("etcd") == {"GOGC": "400", "A": "1"}
    assert v.environment("kwok") == {"GOGC": "200", "A": "1"}


def _run(variant: str, per: float, idle: float) -> dict[str, Any]:
    components = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
    return {
        "variant": variant,
        "load_requests": 3000,
        "served_requests": 3500,
        "per_1000_requests": {c: per for c in components},
        "idle_cpu_s_per_min": {c: idle for c in components},
        "memory_mib": {c: {"VmRSS": 100.0} for c in components},
    }


def test_the_table_has_a_row_per_variant_with_medians_and_spread() -> None:
    runs = [_run("baseline", 1.0, 0.1), _run("no-apf", 0.5, 0.1), _run("baseline", 3.0, 0.3)]
    runs.append({"variant": "broken", "error": "TimeoutError"})
    rows = table(runs).splitlines()
    assert len(rows) == 5
    assert rows[2].startswith("| baseline | 2 | 3000 (3500) | 2.0 [1.0, 3.0] / ")
    assert "| 10.0 [5.0, 15.0] | 0.2 [0.1, 0.3] / " in rows[2]
    assert rows[2].endswith("| 1.0 [0.5, 1.5] | 0 | 100 / 100 / 100 | 0.0 / 0.0 |")
    assert rows[3].startswith("| no-apf | 1 |")
    assert rows[4].startswith("| broken | 0 (failed) |")


def test_joined_variants_apply_their_changes_in_order() -> None:
    v = variants.named("defaults+no-apf+gogc200")
    line = v.command_line(
        "kube-apiserver",
        ["--enable-priority-and-fairness=false", "--etcd-count-metric-poll-period=0", "--y"],
    )
    assert line == ["--y", "--enable-priority-and-fairness=false"]
    assert v.environment("etcd") == {"GOGC": "200"}
    assert variants.named("defaults").environment("kwok") == {"GOGC": "100"}


def test_a_variant_changes_the_audit_policy_only_while_applied() -> None:
    ours = components.AUDIT_POLICY
    with variants.applied(variants.named("defaults+audit-narrow")):
        assert components.AUDIT_POLICY["rules"][1:] == ours["rules"]
        assert components.environment("etcd")["GOGC"] == "100"
    assert components.AUDIT_POLICY is ours
    assert components.environment("etcd") == components.GO_ENVIRONMENT
