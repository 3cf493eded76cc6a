"""The helm scenario's report: medians per engine, kidp's over Flux's, the goals of issue
21 held against those ratios, and the order in which the runner interleaves engines."""

from __future__ import annotations

from typing import Any

import pytest
from bench import helmreport, report, runner


def _wave(wall: float, cpu: float, rss: float, control_plane: float) -> dict[str, Any]:
    return {
        "wall_s": wall,
        "ready": 100,
        "tree_cpu_s": cpu,
        "tree_peak_rss_mib": rss,
        "loadavg": [1.5, 2.0],
        "rollout": {
            "rolled_out": 100,
            "wall_s": wall - 1.0,
            "ready_after_rollout_s": {"n": 100, "median": 0.2, "min": 0.1, "max": 4.0},
            "ready_before_rollout": 0,
        },
        "cpu": {
            "wall_s": wall,
            "cpu_s": {
                "kube-apiserver": {"self": control_plane, "children": 0.0},
                "etcd": {"self": 0.0, "children": 0.0},
            },
            "others_s": 0.5,
        },
    }


def _run(engine: str, install: float, upgrade: float, rss: float) -> dict[str, Any]:
    return {
        "n": 100,
        "engine": {"name": engine, "concurrency": 4, "version": "x"},
        "install": _wave(install, install / 10, rss, 20.0),
        "upgrade": _wave(upgrade, upgrade / 10, rss + 10, 10.0),
    }


RUNS = [
    _run("kidp", 27.0, 40.0, 160.0),
    _run("flux", 130.0, 120.0, 280.0),
    _run("kidp", 29.0, 42.0, 170.0),
    _run("flux", 136.0, 130.0, 290.0),
]


def test_runs_group_by_engine_and_size_with_medians() -> None:
    groups = {g["engine"]: g for g in helmreport.aggregate(RUNS)}
    assert set(groups) == {"kidp", "flux"}
    kidp = groups["kidp"]
    assert kidp["runs"] == 2
    assert kidp["install"]["wall_s"]["median"] == 28.0
    assert kidp["upgrade"]["control_plane_s"]["median"] == 10.0
    assert kidp["peak_rss_mib"]["median"] == 175.0  # the larger wave of each run
    assert kidp["install"]["loadavg"] == [[1.5, 2.0], [1.5, 2.0]]
    assert kidp["versions"] == {"version": "x"}


def test_kidp_over_flux_is_a_ratio_of_medians() -> None:
    [row] = helmreport.ratios(helmreport.aggregate(RUNS))
    assert row["install_wall_s"] == round(28.0 / 133.0, 3)
    assert row["upgrade_wall_s"] == round(41.0 / 125.0, 3)
    assert row["peak_rss_mib"] == round(175.0 / 295.0, 3)


def test_no_ratio_without_flux() -> None:
    assert helmreport.ratios(helmreport.aggregate(RUNS[::2])) == []


def test_the_goals_of_issue_21_are_held_against_the_ratios() -> None:
    summary = report.summary({"helm": {"aggregates": helmreport.aggregate(RUNS)}})
    goals = report.goals(summary)
    assert goals["helm_kidp_over_flux_upgrade_wall@100"]["met"]  # 0.33 ≤ 0.5
    assert goals["helm_kidp_over_flux_install_wall@100"]["met"]  # 0.21 ≤ 0.25
    slow = [_run("kidp", 27.0, 80.0, 160.0), _run("flux", 130.0, 120.0, 280.0)]
    goals = report.goals(report.summary({"helm": {"aggregates": helmreport.aggregate(slow)}}))
    assert not goals["helm_kidp_over_flux_upgrade_wall@100"]["met"]  # 0.67


def test_the_table_shows_both_engines_and_the_ratios() -> None:
    lines = helmreport.table({"runs": RUNS})
    text = "\n".join(lines)
    assert "| kidp (version x) | 100 | 4 | 2 | upgrade | 41 s [40, 42] |" in text
    assert "| flux (version x) | 100 | 4 | 2 | install | 133 s [130, 136] |" in text
    assert "| 100 | 4 | upgrade | 0.328 |" in text


def test_files_from_before_engines_were_named_read_as_kidp() -> None:
    old = _run("kidp", 27.0, 40.0, 160.0)
    del old["engine"]
    for wave in ("install", "upgrade"):
        del old[wave]["loadavg"], old[wave]["rollout"]
    [group] = helmreport.aggregate([old])
    assert group["engine"] == "kidp"
    assert group["concurrency"] is None
    text = "\n".join(helmreport.table({"runs": [old]}))
    assert "| kidp | 100 | — | 1 | install | 27 s |" in text


def test_engines_alternate_which_goes_first() -> None:
    assert runner.interleaved(["kidp", "flux"], 0) == ["kidp", "flux"]
    assert runner.interleaved(["kidp", "flux"], 1) == ["flux", "kidp"]
    assert runner.interleaved(["flux"], 1) == ["flux"]


@pytest.mark.parametrize("value", ["", "kidp,argo", "flux,flux"])
def test_unknown_or_repeated_engines_are_refused(value: str) -> None:
    with pytest.raises(SystemExit, match="--helm-engine"):
        runner.helm_engines(value)


def test_the_flux_run_gets_kidps_concurrency() -> None:
    from bench.scenarios import helm

    assert helm.kidp_concurrency([]) == 4  # `kidp controller run`'s default
    assert helm.kidp_concurrency(["--concurrency=10"]) == 10


def test_the_wait_lag_and_an_engine_ready_before_its_rollout_show() -> None:
    early = _run("kidp", 27.0, 40.0, 160.0)
    early["upgrade"]["rollout"]["ready_before_rollout"] = 3
    [group] = helmreport.aggregate([early])
    assert group["upgrade"]["wait_lag_s"]["median"] == 0.2
    assert group["upgrade"]["rollout_wall_s"]["median"] == 39.0
    text = "\n".join(helmreport.table({"runs": [early]}))
    assert "| 39 s | 0.2 s (3 Ready before their rollout) |" in text
