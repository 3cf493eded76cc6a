"""The result file's `summary`, the goals it is held against, and the readable table."""

from __future__ import annotations

from typing import Any

from bench import helmreport, measure

# figure → (goal, "le" when lower is better, "eq" when it must equal the goal)
GOALS: dict[str, tuple[float, str]] = {
    "mttp_s@1000": (60.0, "le"),
    "mttp_many_repos_s@1000": (60.0, "le"),
    "engine_rss_mib": (250.0, "le"),
    "push_to_apply_p50_s": (1.0, "le"),
    "push_to_apply_p95_s": (2.0, "le"),
    "drift_corrected_p50_s": (2.0, "le"),
    "idle_writes_per_min": (0.0, "eq"),
    "restart_writes": (0.0, "eq"),
    "source_push_to_artifact_p50_s": (0.3, "le"),
    "source_ls_remotes_per_repo_per_interval": (1.0, "eq"),
    "source_downloads_per_interval": (0.0, "eq"),
    "kustomize_idle_writes_per_interval": (0.0, "eq"),
    # issue 13: best of `repeat` runs, over a bare `python -c pass`
    "cli_version_over_bare_ms": (150.0, "le"),
    "cli_complete_names_over_bare_ms": (200.0, "le"),
    **helmreport.GOALS,
}


def aggregate_mttp(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and spread over the repetitions of one (N, layout)."""
    splits = [measure.cpu_split(r["cpu"]) for r in runs]
    methods = sorted({m for r in runs for m in r["engine"]["requests_by_method"]})
    out: dict[str, Any] = {
        "n": runs[0]["n"],
        "layout": runs[0]["layout"],
        "repositories": runs[0]["repositories"],
        "repetitions": len(runs),
        "all_ready": all(not r["timed_out"] for r in runs),
        "ready": measure.stats(r["ready"] for r in runs),
        "mttp_s": measure.stats(r["mttp_s"] if not r["timed_out"] else None for r in runs),
        "half_ready_s": measure.stats(r["half_ready_s"] for r in runs),
        "sources_ready_s": measure.stats(r["sources_ready_s"] for r in runs),
        "create_s": measure.stats(r["create_s"] for r in runs),
        "throughput_per_s": measure.stats(r["throughput_per_s"] for r in runs),
        "engine_start_s": measure.stats(r["engine_start_s"] for r in runs),
        "engine_peak_rss_mib": measure.stats((r["engine_peak_rss_mib"] for r in runs), 1),
        "engine_writes": measure.stats(r["engine"]["writes"] for r in runs),
        "engine_requests_by_method": {
            m: measure.stats(r["engine"]["requests_by_method"].get(m, 0) for r in runs)
            for m in methods
        },
        "apiserver_real_writes": measure.stats(r["apiserver_writes"]["real_total"] for r in runs),
        "engine_real_writes": measure.stats(_engine_real(r["apiserver_writes"]) for r in runs),
        "apiserver_dry_runs": measure.stats(r["apiserver_writes"]["dry_run"] for r in runs),
    }
    for key in splits[0]:
        out[f"cpu_{key}"] = measure.stats(s[key] for s in splits)
    return out


def aggregate_ceiling(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median and spread of the ceiling's figures per (N, processes)."""
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["n"], r["processes"]), []).append(r)
    out = []
    for (n, processes), group in sorted(groups.items()):
        steadies = [r["steady"] for r in group if r.get("steady")]

        def steady(key: str, steadies: list[dict[str, Any]] = steadies) -> dict[str, Any]:
            return measure.stats(_median(st[key]) for st in steadies)

        out.append(
            {
                "n": n,
                "processes": processes,
                "runs": len(group),
                "all_ready": all(not r["timed_out"] for r in group),
                "ready": [r["ready"] for r in group],
                "mttp_s": measure.stats(r["mttp_s"] for r in group),
                "ready_50pct_s": measure.stats(r["ready_50pct_s"] for r in group),
                "engine_cpu_s": measure.stats(r["cpu"]["engine_s"] for r in group),
                "control_plane_cpu_s": measure.stats(r["cpu"]["control_plane_s"] for r in group),
                "others_cpu_s": measure.stats(r["cpu"]["others_s"] for r in group),
                "engine_peak_rss_total_mib": measure.stats(
                    r["engine_peak_rss_total_mib"] for r in group
                ),
                "control_plane_rss_mib": measure.stats(
                    sum(r["control_plane_rss_mib"].values()) for r in group
                ),
                "engine_requests": measure.stats(r["engine_requests"]["requests"] for r in group),
                "loadavg": [[r["loadavg_start"][0], r["loadavg_end"][0]] for r in group],
                "steady_engine_cpu_s_per_min": steady("engine_cpu_s_per_min"),
                "steady_control_plane_cpu_s_per_min": steady("control_plane_cpu_s_per_min"),
                "steady_engine_requests_per_min": steady("engine_requests_per_min"),
                "steady_engine_writes_per_min": steady("engine_writes_per_min"),
                "steady_apiserver_requests_per_min": steady("apiserver_requests_per_min"),
                "steady_engine_rss_total_mib": steady("engine_rss_total_mib"),
            }
        )
    return out


def reaggregate(scenarios: dict[str, Any]) -> None:
    """Recompute the mttp, ceiling and helm aggregates from the stored runs (for
    `--report`)."""
    helm = scenarios.get("helm")
    if helm and helm.get("runs"):
        helm["aggregates"] = helmreport.aggregate(helm["runs"])
    ceiling = scenarios.get("ceiling")
    if ceiling and ceiling.get("runs"):
        ceiling["aggregates"] = aggregate_ceiling(ceiling["runs"])
    mttp = scenarios.get("mttp")
    if not mttp or not mttp.get("runs"):
        return
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for run in mttp["runs"]:
        groups.setdefault((run["n"], run["layout"]), []).append(run)
    mttp["aggregates"] = [aggregate_mttp(runs) for runs in groups.values()]


def _engine_real(writes: dict[str, Any]) -> int:
    """Recomputed from the stored counts, so older result files read the same way."""
    return measure.engine_real(writes["real"], int(writes.get("bench_writes", 0)))


def _median(st: dict[str, Any] | None) -> float | None:
    return None if not st or not st.get("n") else st["median"]


def summary(scenarios: dict[str, Any]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    mttp = scenarios.get("mttp") or {}
    aggregates = mttp.get("aggregates") or []
    if aggregates:
        s["mttp_s"] = {
            str(a["n"]): _median(a["mttp_s"]) for a in aggregates if a["layout"] == "one"
        }
        s["mttp_many_repos_s"] = {
            str(a["n"]): _median(a["mttp_s"]) for a in aggregates if a["layout"] == "many"
        }
        s["mttp_oci_s"] = {
            str(a["n"]): _median(a["mttp_s"]) for a in aggregates if a["layout"] == "oci"
        }
        largest = max(a["n"] for a in aggregates)
        at_largest = [a for a in aggregates if a["n"] == largest]
        s["engine_rss_mib"] = max(_median(a["engine_peak_rss_mib"]) or 0 for a in at_largest)
        s["engine_rss_mib_at_n"] = largest
        s["engine_cpu_s"] = {
            f"{a['n']}/{a['layout']}": _median(a["cpu_engine_s"]) for a in aggregates
        }
        s["control_plane_cpu_s"] = {
            f"{a['n']}/{a['layout']}": _median(a["cpu_control_plane_s"]) for a in aggregates
        }
    steady = mttp.get("steady")
    if steady:
        s["idle_writes_per_min"] = _median(steady["writes_per_min"])
        s["idle_requests_per_min"] = _median(steady["requests_per_min"])
        s["idle_engine_cpu_pct"] = _median(steady["engine_cpu_pct"])
        s["idle_engine_rss_mib"] = (steady["engine_rss"].get("rss_mib") or {}).get("median")
        s["idle_at_n"] = mttp.get("steady_n")
    restarts = mttp.get("restarts") or []
    if restarts:
        last = max(restarts, key=lambda r: r["n"])
        s["restart_to_ready_s"] = last["restart_to_ready_s"]
        s["restart_writes"] = last["writes_at_ready"]
        s["restart_dry_runs"] = last.get("dry_runs_at_ready")
        s["restart_real_writes"] = _engine_real(last["apiserver_writes"])
        s["restart_at_n"] = last["n"]
    push = scenarios.get("push")
    if push:
        # Files from before the webhook series have only "requested" (the annotation).
        annotation = push.get("annotation") or push["requested"]
        webhook = push.get("webhook") or annotation
        s["push_to_apply_p50_s"] = webhook["push_to_applied_s"].get("median")
        s["push_to_apply_p95_s"] = webhook["push_to_applied_s"].get("p95")
        if "webhook_to_accepted_s" in webhook:
            s["webhook_to_accepted_p50_s"] = webhook["webhook_to_accepted_s"].get("median")
            s["webhook_to_accepted_p95_s"] = webhook["webhook_to_accepted_s"].get("p95")
        s["push_to_apply_annotation_p50_s"] = annotation["push_to_applied_s"].get("median")
        s["push_to_apply_annotation_p95_s"] = annotation["push_to_applied_s"].get("p95")
        if "polled" in push:
            s["push_to_apply_poll_p50_s"] = push["polled"]["push_to_applied_s"].get("median")
            s["push_to_apply_poll_p95_s"] = push["polled"]["push_to_applied_s"].get("p95")
        if "drift" in push:
            s["drift_corrected_p50_s"] = push["drift"]["corrected_s"].get("median")
            s["drift_corrected_p95_s"] = push["drift"]["corrected_s"].get("p95")
    source = scenarios.get("source")
    if source:
        s["source_push_to_artifact_p50_s"] = source["push"]["push_to_artifact_s"].get("median")
        s["source_push_to_artifact_p95_s"] = source["push"]["push_to_artifact_s"].get("p95")
        s["source_ls_remotes_per_repo_per_interval"] = _median(
            source["steady"]["ls_remotes_per_repo_per_interval"]
        )
        s["source_downloads_per_interval"] = _median(source["steady"]["downloads_per_interval"])
        s["source_bytes_per_interval"] = _median(source["steady"]["bytes_per_interval"])
        s["source_writes_per_interval"] = _median(source["steady"]["engine_writes_per_interval"])
    kz = scenarios.get("kustomize")
    if kz:
        s["kustomize_cold_apply_s"] = _median(kz["cold"]["apply_s"])
        s["kustomize_warm_apply_s"] = _median(kz["warm"]["apply_s"])
        s["kustomize_drift_p50_s"] = kz["drift"]["corrected_s"].get("median")
        s["kustomize_drift_p95_s"] = kz["drift"]["corrected_s"].get("p95")
        s["kustomize_idle_writes_per_interval"] = _median(kz["idle"]["writes_per_interval"])
    ceiling = scenarios.get("ceiling") or {}
    for a in ceiling.get("aggregates") or []:
        key = f"{a['n']}/p{a['processes']}"
        s.setdefault("ceiling_mttp_s", {})[key] = _median(a["mttp_s"])
        s.setdefault("ceiling_engine_rss_mib", {})[key] = _median(a["engine_peak_rss_total_mib"])
        s.setdefault("ceiling_idle_engine_cpu_s_per_min", {})[key] = _median(
            a["steady_engine_cpu_s_per_min"]
        )
        s.setdefault("ceiling_idle_apiserver_requests_per_min", {})[key] = _median(
            a["steady_apiserver_requests_per_min"]
        )
    helm = scenarios.get("helm") or {}
    if helm.get("aggregates"):
        s.update(helmreport.summary(helm["aggregates"]))
    shards = scenarios.get("shards")
    if shards:
        s["shards_ready_s"] = shards["ready_s"]
        s["shards_at"] = f"{shards['kustomizations']}x{shards['shards']}"
        s["shards_cpu_s"] = sum(p["cpu_s"] for p in shards["processes"].values())
    cli = scenarios.get("cli")
    if cli:
        for name, figures in cli["wall_ms"].items():
            if name != "bare":
                s[f"cli_{name}_over_bare_ms"] = figures["over_bare_best"]
        s["cli_bare_python_ms"] = cli["wall_ms"]["bare"]["best"]
    return s


def goals(summary: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, (goal, how) in GOALS.items():
        name, _, n = key.partition("@")
        value = summary.get(name)
        if isinstance(value, dict):
            value = value.get(n)
        if value is None:
            continue
        met = value <= goal if how == "le" else abs(value - goal) < 1e-9
        out[key] = {"value": value, "goal": goal, "met": met}
    return out


# ---- the table -------------------------------------------------------------------------


def _fmt(st: dict[str, Any] | None, unit: str = "") -> str:
    if not st or not st.get("n"):
        return "-"
    if st["n"] == 1:
        return f"{st['median']:g}{unit}"
    return f"{st['median']:g}{unit} [{st['min']:g}, {st['max']:g}] n={st['n']}"


def table(result: dict[str, Any]) -> str:
    """Markdown: the figures with their spread, then the goals."""
    lines = []
    m = result["machine"]
    lines.append(
        f"Machine: {m['cores']} cores ({m['cpu_model']}), {m['memory_mib']} MiB, "
        f"kernel {m['kernel']}, Python {m['python']}, {m['git']}; "
        f"load average at start {m['loadavg']}"
    )
    lines.append(
        f"Mode: {result['mode']}; started {result['started']}; took {result['took_s']:.0f}s"
    )
    lines.append("")
    sc = result["scenarios"]
    mttp = sc.get("mttp") or {}
    if mttp.get("aggregates"):
        lines.append("### (1) Mean time to production — median [min, max] n=repetitions")
        lines.append("")
        lines.append(
            "| N | repos | Ready in | engine CPU | control-plane CPU | others' CPU | "
            "engine peak RSS | engine requests (GET/PATCH/POST/PUT/DELETE) | writes (engine) "
            "| real writes by the engine (API server) |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for a in mttp["aggregates"]:
            req = a["engine_requests_by_method"]
            reqs = "/".join(
                f"{_median(req.get(k)) or 0:g}" for k in ("GET", "PATCH", "POST", "PUT", "DELETE")
            )
            ready_in = _fmt(a["mttp_s"], " s")
            if not a["all_ready"]:
                timeouts = [
                    r for r in mttp["runs"] if r["n"] == a["n"] and r["layout"] == a["layout"]
                ]
                ready_in += "; timed out: " + ", ".join(
                    f"{r['ready']}/{r['n']} Ready after {r['timeout_s']:g} s"
                    for r in timeouts
                    if r["timed_out"]
                )
            lines.append(
                f"| {a['n']} | {a['repositories']}{' OCI' if a['layout'] == 'oci' else ''} "
                f"| {ready_in} "
                f"| {_fmt(a['cpu_engine_s'], ' s')} | {_fmt(a['cpu_control_plane_s'], ' s')} "
                f"| {_fmt(a['cpu_others_s'], ' s')} | {_fmt(a['engine_peak_rss_mib'], ' MiB')} "
                f"| {reqs} | {_fmt(a['engine_writes'])} | {_fmt(a['engine_real_writes'])} |"
            )
        lines.append("")
    if mttp.get("steady"):
        st = mttp["steady"]
        lines.append(f"### (4) Steady state at N={mttp.get('steady_n')} (per minute)")
        lines.append("")
        lines.append(f"- engine writes/min: {_fmt(st['writes_per_min'])}")
        lines.append(f"- engine API requests/min: {_fmt(st['requests_per_min'])}")
        lines.append(f"- engine CPU: {_fmt(st['engine_cpu_pct'], ' %')}")
        lines.append(f"- control-plane CPU: {_fmt(st['control_plane_cpu_pct'], ' %')}")
        lines.append(f"- engine RSS: {_fmt(st['engine_rss'].get('rss_mib'), ' MiB')}")
        lines.append("")
    for r in mttp.get("restarts") or []:
        lines.append(
            f"### (5) Restart at N={r['n']}: Ready (new process) in {r['restart_to_ready_s']} s "
            f"(engine start {r['engine_start_s']} s); engine-counted writes {r['writes_at_ready']} "
            f"and dry runs {r.get('dry_runs_at_ready', '?')} "
            f"(requests {r['requests_at_ready']}); real writes by the engine at the API server "
            f"{_engine_real(r['apiserver_writes'])} "
            f"(all clients: {r['apiserver_writes']['real']}), "
            f"dry runs {r['apiserver_writes']['dry_run']}"
        )
        lines.append("")
    ceiling = sc.get("ceiling") or {}
    if ceiling.get("aggregates"):
        lines += ceiling_table(ceiling)
    lines += helmreport.table(sc.get("helm") or {})
    push = sc.get("push")
    if push:
        lines.append(f"### (2) Push to applied, {push['objects']}-object Kustomization")
        lines.append("")
        for key in ("webhook", "annotation", "requested", "polled"):
            if key in push:
                p = push[key]
                accepted = ""
                if "webhook_to_accepted_s" in p:
                    w = p["webhook_to_accepted_s"]
                    accepted = (
                        f"; webhook→accepted {_fmt(w, ' s')}, p95 {w.get('p95')} s "
                        f"({p['accepted']}/{p['commits']} accepted)"
                    )
                lines.append(
                    f"- {key}: push→applied {_fmt(p['push_to_applied_s'], ' s')}, "
                    f"p95 {p['push_to_applied_s'].get('p95')} s "
                    f"({p['applied']}/{p['commits']} applied); push→artifact "
                    f"{_fmt(p['push_to_artifact_s'], ' s')}; git push itself "
                    f"{_fmt(p['git_push_s'], ' s')}{accepted}"
                )
        if "drift" in push:
            d = push["drift"]
            lines.append("")
            lines.append(
                f"### (3) Drift: {d['corrected']}/{d['changes']} corrected, "
                f"{_fmt(d['corrected_s'], ' s')}, p95 {d['corrected_s'].get('p95')} s"
            )
        lines.append("")
    src = sc.get("source")
    if src:
        st, pu = src["steady"], src["push"]
        lines.append(f"### Source: {src['repos']} GitRepositories, interval {st['interval_s']:g}s")
        lines.append("")
        per_repo = _fmt(st["ls_remotes_per_repo_per_interval"])
        lines.append(f"- ls-remotes per repository per interval: {per_repo}")
        lines.append(f"- downloads per interval: {_fmt(st['downloads_per_interval'])}")
        lines.append(f"- bytes per interval (in+out): {_fmt(st['bytes_per_interval'])}")
        lines.append(f"- engine writes per interval: {_fmt(st['engine_writes_per_interval'])}")
        lines.append(f"- engine CPU: {_fmt(st['engine_cpu_pct'], ' %')}")
        lines.append(
            f"- push→artifact (requested): {_fmt(pu['push_to_artifact_s'], ' s')}, "
            f"p95 {pu['push_to_artifact_s'].get('p95')} s; request→artifact "
            f"{_fmt(pu['request_to_artifact_s'], ' s')}"
        )
        lines.append("")
    kz = sc.get("kustomize")
    if kz:
        lines.append(f"### Kustomize: one Kustomization of {kz['objects']} objects")
        lines.append("")
        for key in ("cold", "warm"):
            k = kz[key]
            lines.append(
                f"- {key}: {_fmt(k['apply_s'], ' s')}; "
                f"engine requests {_fmt(k['engine_requests'])}, "
                f"engine writes {_fmt(k['engine_writes'])}, real writes at the API server "
                f"{_fmt(k['real_writes_at_apiserver'])}, engine CPU {_fmt(k['engine_cpu_s'], ' s')}"
            )
        d = kz["drift"]
        lines.append(
            f"- drift: {d['corrected']}/{d['changes']} corrected, {_fmt(d['corrected_s'], ' s')}, "
            f"p95 {d['corrected_s'].get('p95')} s"
        )
        lines.append(f"- idle writes per interval: {_fmt(kz['idle']['writes_per_interval'])}")
        lines.append("")
    cli = sc.get("cli")
    if cli:
        lines.append(
            f"### CLI start-up, ms (best / median of {cli['repeat']}; others used "
            f"{cli['others_cores_before']} cores before)"
        )
        lines.append("")
        lines.append("| command | wall | over bare python | CPU | over bare python |")
        lines.append("|---|---|---|---|---|")
        for name, w in cli["wall_ms"].items():
            c = cli["cpu_ms"][name]
            lines.append(
                f"| {name} | {w['best']:g} / {w['median']:g} "
                f"| {w['over_bare_best']:g} / {w['over_bare_median']:g} "
                f"| {c['best']:g} / {c['median']:g} "
                f"| {c['over_bare_best']:g} / {c['over_bare_median']:g} |"
            )
        for name, imp in cli["importtime"].items():
            top = ", ".join(f"{m} {ms:g}" for m, ms in list(imp["top_ms"].items())[:5])
            heavy = ", ".join(imp["heavy_loaded"]) or "none"
            lines.append(f"- importtime `{name}`: {imp['total_ms']:g} ms: {top}; heavy: {heavy}")
        if not cli["complete_names_ok"]:
            lines.append(f"- complete_names answered {cli['complete_names_answer']}: NOT the names")
        lines.append("")
    for run in mttp.get("runs") or []:
        prof = run.get("profile")
        if not prof or "samples" not in prof:
            continue
        lines.append(
            f"### Profile of the engine, mttp N={run['n']} {run['layout']} "
            f"({prof['samples']} samples; shares of the engine's CPU)"
        )
        lines.append("")
        lines.append(
            "- self time by area: "
            + ", ".join(f"{a['frame']} {a['share']:.0%}" for a in prof["self_by_area"][:10])
        )
        lines.append(
            "- our functions, inclusive: "
            + ", ".join(
                f"{a['frame']} {a['share']:.0%}" for a in prof["inclusive_kidp_gitops_top"][:12]
            )
        )
        lines.append(f"- raw stacks: {prof['file']}")
        lines.append("")
    if result.get("goals"):
        lines.append("### Goals")
        lines.append("")
        lines.append("| figure | measured | goal | met |")
        lines.append("|---|---|---|---|")
        for key, g in result["goals"].items():
            lines.append(
                f"| {key} | {g['value']:g} | {g['goal']:g} | {'yes' if g['met'] else 'NO'} |"
            )
        lines.append("")
    return "\n".join(lines)


def ceiling_table(ceiling: dict[str, Any]) -> list[str]:
    """The ceiling's table: to Ready, then steady state (medians [min, max] when repeated)."""
    lines = [
        "### Ceiling (issue 20): N Kustomizations of 4 objects, one process or K shards",
        "",
        "| N | processes | Ready in (MTTP) | 50 % Ready at | engine CPU | control-plane CPU "
        "| others' CPU | engine peak RSS (sum) | control-plane RSS | idle engine CPU-s/min "
        "| idle engine requests/min | idle API-server requests/min (all clients) "
        "| idle engine writes/min | idle engine RSS (sum) | load 1m (start→end) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in ceiling["aggregates"]:
        ready_in = _fmt(a["mttp_s"], " s")
        if not a["all_ready"]:
            ready_in += f" (timed out: {a['ready']} of {a['n']} Ready)"
        load = ", ".join(f"{x:g}→{y:g}" for x, y in a["loadavg"])
        lines.append(
            f"| {a['n']} | {a['processes']} | {ready_in} | {_fmt(a['ready_50pct_s'], ' s')} "
            f"| {_fmt(a['engine_cpu_s'], ' s')} | {_fmt(a['control_plane_cpu_s'], ' s')} "
            f"| {_fmt(a['others_cpu_s'], ' s')} "
            f"| {_fmt(a['engine_peak_rss_total_mib'], ' MiB')} "
            f"| {_fmt(a['control_plane_rss_mib'], ' MiB')} "
            f"| {_fmt(a['steady_engine_cpu_s_per_min'])} "
            f"| {_fmt(a['steady_engine_requests_per_min'])} "
            f"| {_fmt(a['steady_apiserver_requests_per_min'])} "
            f"| {_fmt(a['steady_engine_writes_per_min'])} "
            f"| {_fmt(a['steady_engine_rss_total_mib'], ' MiB')} | {load} |"
        )
    for f in ceiling.get("failed_runs") or []:
        lines.append(f"- failed: N={f['n']} processes={f['processes']}: {f['error']}")
    lines.append("")
    return lines
