"""Numbers from the outside: /proc, Prometheus scrapes, the machine, and statistics.

CPU is read from /proc/<pid>/stat: `self` is the process's own user+system time,
`children` the time of the children it has waited for (the engine's `git` and
`kustomize` runs, the git server's `git http-backend`). Memory is VmRSS (now) and VmHWM
(the peak resident set since the process started) from /proc/<pid>/status — the engine's
own process; its short-lived children are not included.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

_TICK = os.sysconf("SC_CLK_TCK")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


# ---- /proc -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    self_s: float
    children_s: float

    @property
    def total_s(self) -> float:
        return self.self_s + self.children_s

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.self_s - other.self_s, self.children_s - other.children_s)


def cpu(pid: int) -> Cpu:
    """CPU seconds of `pid` (zero when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return Cpu(0.0, 0.0)
    # After the command: state(0) ppid … utime(11) stime(12) cutime(13) cstime(14)
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return Cpu((utime + stime) / _TICK, (cutime + cstime) / _TICK)


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of `pid` in MiB (empty when it is gone)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def memory_detail_mib(pid: int) -> dict[str, float]:
    """What `pid` holds, as the kernel splits it, in MiB: VmRSS and VmHWM, RssAnon (its
    heap: Python's objects) and RssFile (pages of files it maps — the interpreter's and
    the libraries' code, counted in full by every process that maps them), and Pss
    (RSS with each shared page divided among the processes that map it: the sum over
    several processes is what they hold together). Empty when it is gone."""
    out: dict[str, float] = {}
    try:
        for name, keys in (
            ("status", ("VmRSS", "VmHWM", "RssAnon", "RssFile")),
            ("smaps_rollup", ("Pss", "Pss_Anon", "Pss_File")),
        ):
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in keys:
                    out[key] = round(int(value.split()[0]) / 1024, 1)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def machine_busy_s() -> float:
    """Non-idle CPU seconds of the whole machine since boot (all cores)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in first[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    meminfo = {
        line.split(":")[0]: int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.split(":")[0] in ("MemTotal", "MemAvailable")
    }
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_mib": round(meminfo.get("MemTotal", 0) / 1024),
        "memory_available_mib": round(meminfo.get("MemAvailable", 0) / 1024),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git": git.stdout.strip(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def source_tree() -> dict[str, Any]:
    """Which engine was measured: the checkout's commit and whether src/ had local
    changes (read-only git commands). Each engine process imports src/ as it is when it
    starts, so a run records this at its start and at its end."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "src_changed": bool(git("status", "--porcelain", "--", "src")),
    }


class CpuMeter:
    """CPU used by named processes (and by the whole machine) over a window."""

    def __init__(self, pids: Mapping[str, int]):
        self.pids = dict(pids)
        self._start: dict[str, Cpu] = {}
        self._began = 0.0
        self._busy = 0.0

    def start(self) -> None:
        self._start = {name: cpu(pid) for name, pid in self.pids.items()}
        self._began = time.monotonic()
        self._busy = machine_busy_s()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._began
        used = {name: cpu(pid) - self._start[name] for name, pid in self.pids.items()}
        busy = machine_busy_s() - self._busy
        ours = sum(c.total_s for c in used.values())
        return {
            "wall_s": round(wall, 3),
            "cpu_s": {
                name: {"self": round(c.self_s, 2), "children": round(c.children_s, 2)}
                for name, c in used.items()
            },
            "machine_busy_s": round(busy, 2),
            # Everything the machine did that none of the measured processes did: other
            # users of this shared machine, the kernel, short-lived strangers.
            "others_s": round(max(busy - ours, 0.0), 2),
        }


CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def cpu_split(cpu: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of one window: engine (with its git/kustomize children), control
    plane, git server, bench, and the rest of the machine."""
    used = cpu["cpu_s"]

    def both(name: str) -> float:
        c = used.get(name) or {}
        return float(c.get("self", 0.0)) + float(c.get("children", 0.0))

    return {
        "engine_s": round(both("engine"), 2),
        "engine_children_s": round(float((used.get("engine") or {}).get("children", 0.0)), 2),
        "control_plane_s": round(sum(both(n) for n in CONTROL_PLANE), 2),
        "kube_apiserver_s": round(both("kube-apiserver"), 2),
        "etcd_s": round(both("etcd"), 2),
        "git_server_s": round(both("git-server"), 2),
        "bench_s": round(both("bench"), 2),
        "others_s": round(float(cpu.get("others_s", 0.0)), 2),
        "wall_s": round(float(cpu["wall_s"]), 2),
    }


# ---- Prometheus ------------------------------------------------------------------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(url: str, session: aiohttp.ClientSession | None = None) -> Samples:
    """Every sample of a /metrics page, keyed by (name, sorted labels)."""
    own = session is None
    http = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        async with http.get(url) as resp:
            resp.raise_for_status()
            text = await resp.text()
    finally:
        if own:
            await http.close()
    return parse(text)


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def select(samples: Samples, name: str, **labels: str) -> Iterable[tuple[dict[str, str], float]]:
    for (n, lbls), value in samples.items():
        if n != name:
            continue
        d = dict(lbls)
        if all(d.get(k) == v for k, v in labels.items()):
            yield d, value


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for _, v in select(samples, name, **labels))


def by_label(samples: Samples, name: str, label: str, **labels: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for d, v in select(samples, name, **labels):
        out[d.get(label, "")] = out.get(d.get(label, ""), 0.0) + v
    return out


def delta(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    keys = set(after) | set(before)
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in sorted(keys)}


def engine_requests(samples: Samples, **labels: str) -> dict[str, float]:
    """rest_client_requests_total by method (all codes)."""
    return by_label(samples, "rest_client_requests_total", "method", **labels)


def engine_writes(before: Samples, after: Samples) -> tuple[int, int]:
    """(writes, dry runs) the engine counted between two scrapes. Its metric labels each
    request `dry_run` "true" or "false"; an engine older than that label has no dry runs
    to tell apart, and all its write requests count as writes."""
    requests = delta(engine_requests(after), engine_requests(before))
    dry = delta(engine_requests(after, dry_run="true"), engine_requests(before, dry_run="true"))
    attempted = sum(requests.get(m, 0) for m in WRITE_METHODS)
    dry_runs = sum(dry.get(m, 0) for m in WRITE_METHODS)
    return int(attempted - dry_runs), int(dry_runs)


def engine_summary(before: Samples, after: Samples) -> dict[str, Any]:
    """What the engine says it did between two scrapes."""
    requests = {
        k: int(v) for k, v in delta(engine_requests(after), engine_requests(before)).items()
    }
    writes, dry_runs = engine_writes(before, after)
    codes = delta(
        by_label(after, "rest_client_requests_total", "code"),
        by_label(before, "rest_client_requests_total", "code"),
    )
    reconciles = delta(
        by_label(after, "controller_runtime_reconcile_total", "controller"),
        by_label(before, "controller_runtime_reconcile_total", "controller"),
    )
    results = delta(
        by_label(after, "controller_runtime_reconcile_total", "result"),
        by_label(before, "controller_runtime_reconcile_total", "result"),
    )
    durations = {}
    for kind in ("Kustomization", "GitRepository", "OCIRepository"):
        count = total(after, "gotk_reconcile_duration_seconds_count", kind=kind) - total(
            before, "gotk_reconcile_duration_seconds_count", kind=kind
        )
        seconds = total(after, "gotk_reconcile_duration_seconds_sum", kind=kind) - total(
            before, "gotk_reconcile_duration_seconds_sum", kind=kind
        )
        durations[kind] = {
            "count": int(count),
            "sum_s": round(seconds, 3),
            "mean_s": round(seconds / count, 4) if count else None,
        }
    return {
        "requests_by_method": requests,
        "requests_by_code": {k: int(v) for k, v in codes.items() if v},
        "writes": writes,
        "dry_runs": dry_runs,
        "reconciles": {k: int(v) for k, v in reconciles.items() if v},
        "reconcile_results": {k: int(v) for k, v in results.items() if v},
        "reconcile_duration": durations,
        "drift_corrections": int(
            total(after, "kidp_drift_corrections_total")
            - total(before, "kidp_drift_corrections_total")
        ),
    }


# What the engine writes, as the API server names it: its own objects (finalizers, status)
# and events with any verb; managed objects only by server-side apply (verb APPLY) and
# prune (DELETE). Other writers in the same window are left out: the controller-manager's
# ReplicaSets, Endpoints, Deployment status and the ConfigMap/ServiceAccount it puts in
# every new namespace (POST), leases.
ENGINE_OWN = {
    "kustomizations",
    "kustomizations/status",
    "gitrepositories",
    "gitrepositories/status",
    "events",
}


def engine_real(real: Mapping[str, int], bench_writes: int = 0) -> int:
    """Real writes the engine made, from `apiserver_writes(...)["real"]`, less the bench's
    own (creating and patching Flux objects)."""
    total = 0
    for key, n in real.items():
        verb, _, resource = key.partition(" ")
        if resource in ENGINE_OWN or (verb in ("APPLY", "DELETE") and resource != "leases"):
            total += n
    return max(total - bench_writes, 0)


_MUTATING = ("POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE", "DELETECOLLECTION")


def apiserver_writes(before: Samples, after: Samples, bench_writes: int = 0) -> dict[str, Any]:
    """Mutating requests the API server counted (every client), split into real ones by
    resource and dry runs: the server's view of the same window. `bench_writes` is how
    many of them the bench itself made (creating or patching objects), taken off the
    engine's estimate."""
    real: dict[str, int] = {}
    dry = 0
    for (name, lbls), value in after.items():
        if name != "apiserver_request_total":
            continue
        d = dict(lbls)
        if d.get("verb", "").upper() not in _MUTATING:
            continue
        n = int(value - before.get((name, lbls), 0.0))
        if n <= 0:
            continue
        if d.get("dry_run"):
            dry += n
            continue
        resource = d.get("resource", "")
        if d.get("subresource"):
            resource += "/" + d["subresource"]
        key = f"{d.get('verb')} {resource}"
        real[key] = real.get(key, 0) + n
    return {
        "real": dict(sorted(real.items())),
        "real_total": sum(real.values()),
        "engine_real_writes": engine_real(real, bench_writes),
        "bench_writes": bench_writes,
        "dry_run": dry,
    }


# ---- statistics ------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def stats(values: Iterable[float | None], digits: int = 3) -> dict[str, Any]:
    """Median and spread: min, max, p95 (nearest rank), and the values themselves."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"n": 0}
    out: dict[str, Any] = {
        "n": len(vals),
        "median": round(statistics.median(vals), digits),
        "min": round(min(vals), digits),
        "max": round(max(vals), digits),
        "p95": round(percentile(vals, 95), digits),
    }
    if len(vals) >= 4:
        q = statistics.quantiles(vals, n=4, method="inclusive")
        out["iqr"] = [round(q[0], digits), round(q[2], digits)]
    out["values"] = [round(v, digits) for v in vals]
    return out
