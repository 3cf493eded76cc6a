"""The helm scenario's figures: medians per engine and size, kidp's over Flux's, the table.

    aggregate(runs) -> [group]      one group per (engine, N, concurrency): each wave's
                                    wall, tree CPU, tree peak RSS, control-plane CPU,
                                    others' CPU (median and spread), load averages
    ratios(groups) -> [row]         per N and wave, kidp's median over Flux's
    summary(groups) -> dict         the figures report.summary() adds, and held to goals
    table(helm) -> [line]           markdown

Runs come from `bench/scenarios/helm.py`; files written before it named its engine hold
kidp's figures only, and read as such.
"""

from __future__ import annotations

from typing import Any

from bench import measure

WAVES = ("install", "upgrade")
FIGURES = (
    "wall_s",
    "tree_cpu_s",
    "tree_peak_rss_mib",
    "control_plane_s",
    "others_s",
    "rollout_wall_s",
    "wait_lag_s",
)
RATIOS = ("wall_s", "tree_cpu_s", "tree_peak_rss_mib", "control_plane_s")


def engine_of(run: dict[str, Any]) -> dict[str, Any]:
    return run.get("engine") or {"name": "kidp"}


def _figure(wave: dict[str, Any], name: str) -> float | None:
    """One figure of one wave; None where an older file lacks it."""
    if name in ("control_plane_s", "others_s"):
        return measure.cpu_split(wave["cpu"])[name]
    rollout = wave.get("rollout")
    if name == "rollout_wall_s":
        return None if rollout is None else float(rollout["wall_s"])
    if name == "wait_lag_s":  # the median over the releases of Ready minus rolled out
        lag = (rollout or {}).get("ready_after_rollout_s") or {}
        return lag.get("median")
    return float(wave[name])


def aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int, Any], list[dict[str, Any]]] = {}
    for run in runs:
        engine = engine_of(run)
        key = (engine["name"], run["n"], engine.get("concurrency"))
        groups.setdefault(key, []).append(run)
    out = []
    for (name, n, concurrency), group in groups.items():
        waves = {
            wave: {
                **{f: measure.stats(_figure(r[wave], f) for r in group) for f in FIGURES},
                "all_ready": all(r[wave]["ready"] == n for r in group),
                "ready_before_rollout": sum(
                    (r[wave].get("rollout") or {}).get("ready_before_rollout", 0) for r in group
                ),
                "loadavg": [r[wave].get("loadavg") for r in group],
            }
            for wave in WAVES
        }
        out.append(
            {
                "engine": name,
                "n": n,
                "concurrency": concurrency,
                "runs": len(group),
                "versions": {
                    k: v for k, v in engine_of(group[0]).items() if k not in ("name", "concurrency")
                },
                "peak_rss_mib": measure.stats(
                    max(r[w]["tree_peak_rss_mib"] for w in WAVES) for r in group
                ),
                **waves,
            }
        )
    return out


def _median(st: dict[str, Any]) -> float | None:
    return None if not st.get("n") else float(st["median"])


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    return round(mine / theirs, 3) if mine is not None and theirs else None


def ratios(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (N, concurrency) measured under both engines: kidp's median over Flux's, per
    wave and figure (below 1: kidp takes less)."""
    by_key = {(g["engine"], g["n"], g["concurrency"]): g for g in groups}
    out = []
    for (name, n, concurrency), kidp in by_key.items():
        flux = by_key.get(("flux", n, concurrency))
        if name != "kidp" or flux is None:
            continue
        row: dict[str, Any] = {"n": n, "concurrency": concurrency}
        for wave in WAVES:
            for f in RATIOS:
                row[f"{wave}_{f}"] = _ratio(_median(kidp[wave][f]), _median(flux[wave][f]))
        row["peak_rss_mib"] = _ratio(_median(kidp["peak_rss_mib"]), _median(flux["peak_rss_mib"]))
        out.append(row)
    return out


def summary(groups: list[dict[str, Any]]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    for g in groups:
        for wave in WAVES:
            key = f"{g['engine']}/{g['n']}/{wave}"
            s.setdefault("helm_wall_s", {})[key] = _median(g[wave]["wall_s"])
            s.setdefault("helm_tree_cpu_s", {})[key] = _median(g[wave]["tree_cpu_s"])
        s.setdefault("helm_peak_rss_mib", {})[f"{g['engine']}/{g['n']}"] = _median(
            g["peak_rss_mib"]
        )
    for r in ratios(groups):
        n = str(r["n"])
        for name, value in (
            ("install_wall", r["install_wall_s"]),
            ("upgrade_wall", r["upgrade_wall_s"]),
            ("install_cpu", r["install_tree_cpu_s"]),
            ("upgrade_cpu", r["upgrade_tree_cpu_s"]),
            ("peak_rss", r["peak_rss_mib"]),
        ):
            s.setdefault(f"helm_kidp_over_flux_{name}", {})[n] = value
    return s


GOALS: dict[str, tuple[float, str]] = {
    # issue 21, kidp's figure over Flux's on the same scenario and machine
    f"helm_kidp_over_flux_{name}@{n}": (goal, "le")
    for n in (100, 1000)
    for name, goal in (
        ("install_wall", 0.25),  # installs at least 4 times faster
        ("upgrade_wall", 0.5),  # the upgrade wave at least twice as fast
        ("install_cpu", 1.0),  # CPU per release below Flux's
        ("upgrade_cpu", 1.0),
        ("peak_rss", 1.0),  # peak memory below Flux's
    )
}


def _fmt(st: dict[str, Any], unit: str = "") -> str:
    if not st.get("n"):
        return "—"
    if st["n"] == 1:
        return f"{st['median']:g}{unit}"
    return f"{st['median']:g}{unit} [{st['min']:g}, {st['max']:g}]"


def _engine(g: dict[str, Any]) -> str:
    shown = {k: v for k, v in g["versions"].items() if k not in ("commit", "substitutions")}
    versions = ", ".join(f"{k} {v}" for k, v in shown.items())
    return f"{g['engine']} ({versions})" if versions else g["engine"]


def table(helm: dict[str, Any]) -> list[str]:
    groups = helm.get("aggregates") or aggregate(helm.get("runs") or [])
    if not groups:
        return []
    lines = [
        "### HelmReleases: install wave, then upgrade wave — median [min, max] over runs",
        "",
        "| engine | N | concurrency | runs | wave | wall | tree CPU | tree peak RSS "
        "| control-plane CPU | others' CPU | rollouts done at | Ready after rollout "
        "| load 1m (start→end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in sorted(groups, key=lambda g: (g["n"], g["engine"])):
        for wave in WAVES:
            w = g[wave]
            wall = _fmt(w["wall_s"], " s") + ("" if w["all_ready"] else " (not all Ready)")
            lag = _fmt(w["wait_lag_s"], " s")
            if w["ready_before_rollout"]:
                lag += f" ({w['ready_before_rollout']} Ready before their rollout)"
            load = ", ".join(f"{x[0]:g}→{x[1]:g}" for x in w["loadavg"] if x)
            lines.append(
                f"| {_engine(g)} | {g['n']} | {g['concurrency'] or '—'} | {g['runs']} | {wave} "
                f"| {wall} | {_fmt(w['tree_cpu_s'], ' s')} "
                f"| {_fmt(w['tree_peak_rss_mib'], ' MiB')} | {_fmt(w['control_plane_s'], ' s')} "
                f"| {_fmt(w['others_s'], ' s')} | {_fmt(w['rollout_wall_s'], ' s')} | {lag} "
                f"| {load or '—'} |"
            )
    rows = ratios(groups)
    if rows:
        lines += [
            "",
            "kidp's median over Flux's (below 1: kidp takes less):",
            "",
            "| N | concurrency | wave | wall | tree CPU | tree peak RSS | control-plane CPU |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            for wave in WAVES:
                cells = " | ".join(
                    "—" if r[f"{wave}_{f}"] is None else f"{r[f'{wave}_{f}']:g}" for f in RATIOS
                )
                lines.append(f"| {r['n']} | {r['concurrency']} | {wave} | {cells} |")
    for why in sorted({w for g in groups for w in g["versions"].get("substitutions") or []}):
        lines.append(f"- built with a substitution: {why}")
    for f in helm.get("failed_runs") or []:
        lines.append(f"- failed: {f['engine']} N={f['n']} #{f['repetition']}: {f['error']}")
    lines.append("")
    return lines
