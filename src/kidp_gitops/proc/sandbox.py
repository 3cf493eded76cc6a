"""Children that read repository content run confined to what they were given.

A repository is hostile. kustomize follows whatever a kustomization names — a
`git::file://` base can clone any repository on the engine's host, including the
engine's mirrors of other tenants' private repositories — and helm follows symlinks out
of a chart. The reference walks (`render/inputs.py`, `source/helmpackage.py`) refuse
what they can see; this is the floor under them: whatever the child is tricked into
opening, it cannot reach a path it was not given.

    confine(argv, cwd=…, readable=[…], writable=[…], network=…, env={…}) -> Confined

The child runs in a user and mount namespace of its own (no privilege is needed: it is
"root" only over its own mounts), chrooted into an empty tmpfs that holds:

    /usr, /bin, /lib*, a few files of /etc    read-only: programs, libraries, DNS, CAs
    /dev/null, /dev/zero, /dev/urandom         the device files programs expect
    the program itself                         read-only, at its own path
    `readable`                                 read-only, each at its own path
    `writable`                                 read-write, each at its own path
    /tmp and HOME (/home)                      empty tmpfs, gone when the child ends

and nothing else: not the engine's data directory, not its HOME (keys, kube config),
not the engine's processes (a pid namespace of its own; /proc shows only the build's),
not the engine's environment (the child gets `env` and nothing more). The old root is
unmounted, and the command runs without any capability, so it cannot climb back out.
Without `network` it also gets a network namespace of its own, with no interface up.

Where the kernel refuses user namespaces (a container runtime's seccomp profile may),
`confine` runs the child as is and `available()` says why: the engine logs it once at
start. The reference walks still refuse every route they know.

Bounded too: `Guard(pid)` (started by `proc.run` for a guarded run) watches the
child's process group and kills all of it once their resident memory together passes
`LIMITS.memory` (an alias bomb in a manifest made kustomize grow past 10 GB). Resident
memory, read from /proc, not an address-space limit: the Go runtime reserves far more
address space than it uses. The limits are the process's configuration (`configure`,
from `kidp controller run`'s flags).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SYSTEM = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ssl/certs",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
)
HOME = "/home"

# Run by `sh` inside the new namespaces: $1 the empty directory that becomes the root, $2
# the size of /tmp, $3 the table of mounts (an fstab, `_mounts`), $4 and $5 the mount
# points to make first, directories and files (one a line, relative to the root), then
# the command. Paths arrive as arguments, never spliced into the script, so no name can
# inject a command; globbing is off, and only newlines split the two lists.
#
# Every program this script starts costs the build a fork and an exec: the mounts are
# made by one `mount --all` over the table, the mount points by one `mkdir`, so a
# sandbox costs ~10 programs, not one or two per path (its set-up took ~80 ms of CPU with
# ~90 of them, more than many a build it confines).
#
# The new root replaces the old one (pivot_root, then the old one is unmounted): a
# chroot alone would leave the host's tree mounted, and a root that chroots again can
# climb out of a chroot. The command then runs with no capability at all (an empty
# bounding set, no new privileges): it cannot mount, chroot or pivot again.
_SCRIPT = r"""
set -euf
root=$1; tmp_size=$2; mounts=$3; dirs=$4; files=$5; shift 5
IFS='
'
mount -t tmpfs -o mode=0755,size=16m kidp-sandbox "$root"
cd "$root"
mkdir tmp home
mount -t tmpfs -o "mode=1777,size=$tmp_size" kidp-tmp tmp
mount -t tmpfs -o mode=0700,size=64m kidp-home home
mkdir -p -- .old proc $dirs
for file in $files; do : >"$file"; done
printf '%s' "$mounts" >.mounts
mount --all --fstab .mounts  # a line that fails fails it all, after the others: set -e
rm .mounts
pivot_root . .old
cd /
umount -l /.old
rmdir /.old
exec setpriv --no-new-privs --bounding-set -all --inh-caps -all -- "$@"
"""


@dataclass(frozen=True)
class _Mounts:
    """What the script mounts under `root`: the fstab, and the mount points it makes."""

    table: str
    dirs: str
    files: str


def _mounts(root: Path, read_only: Sequence[str], read_write: Sequence[str]) -> _Mounts:
    """Each path of the host at the same path under `root`, read-only or not, in order: a
    link as what it points to (`/bin` -> `/usr/bin` as a directory), a path already
    shown by a path bound before it (a program under /usr) not again, a missing one
    not at all; then the build's own /proc."""
    bound: list[tuple[str, str]] = []  # (path under the root, the host's path shown there)
    lines: list[str] = []
    dirs: list[str] = []
    files: list[str] = []
    for path, writable in [(p, False) for p in read_only] + [(p, True) for p in read_write]:
        source = os.path.realpath(path) if os.path.islink(path) else path
        if not os.path.exists(source) or _shown(bound, path, source):
            continue
        for name in (path, source):
            if "\n" in name:
                raise ValueError(f"cannot confine a build to a path with a newline: {name!r}")
        (dirs if os.path.isdir(source) else files).append(path.lstrip("/"))
        options = "rbind" if writable else ",".join(["rbind", "ro", *_locked(source)])
        lines.append(f"{_field(source)} {_field(str(root) + path)} none {options} 0 0")
        bound.append((path, source))
    lines.append(f"kidp-proc {_field(str(root / 'proc'))} proc defaults 0 0")
    parents = {os.path.dirname(f) for f in files} - {""}
    return _Mounts("\n".join(lines) + "\n", "\n".join([*dirs, *sorted(parents)]), "\n".join(files))


_LOCKED = ((os.ST_NOSUID, "nosuid"), (os.ST_NODEV, "nodev"), (os.ST_NOEXEC, "noexec"))


def _locked(source: str) -> list[str]:
    """The flags of the mount holding `source` that a user namespace may not drop: a
    read-only bind is a bind and then a remount, and the remount must repeat them, or
    the kernel refuses it (a container's /dev, systemd's /dev/shm and /run are nosuid,
    nodev). `mount -o remount,bind,ro` read them from the mount table; `mount --all`
    takes an fstab line's options as they are."""
    flags = os.statvfs(source).f_flag
    return [name for bit, name in _LOCKED if flags & bit]


def _shown(bound: list[tuple[str, str]], path: str, source: str) -> bool:
    """Whether `path` under the root already shows `source`: what the deepest path
    bound above it shows there is the same file."""
    above = [(p, s) for p, s in bound if path == p or path.startswith(p.rstrip("/") + "/")]
    if not above:
        return False
    at, shown = max(above, key=lambda b: len(b[0]))
    inside = shown + path[len(at) :]
    try:
        return os.path.samefile(inside, source)
    except OSError:
        return False


def _field(path: str) -> str:
    """`path` as a field of an fstab: its spaces, tabs, newlines and backslashes in octal
    (`_mounts` refuses a newline before, for the lists the script splits on them)."""
    for char in "\\ \t\n":
        path = path.replace(char, f"\\{ord(char):03o}")
    return path


@dataclass(frozen=True)
class Confined:
    """What to start: argv, with this environment and working directory."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path


def confine(
    argv: Sequence[str],
    *,
    cwd: Path,
    readable: Sequence[Path] = (),
    writable: Sequence[Path] = (),
    network: bool,
    env: Mapping[str, str],
) -> Confined:
    """`argv` (its program an absolute path) confined as the module says, run in `cwd`
    (which must be inside `readable` or `writable`) with exactly `env`."""
    if available() is not None:
        # Unconfined: at least not the host's shared HOME and /tmp (the fallback's own).
        scratch = str(_fallback_scratch())
        own = {**env, **{k: scratch for k in ("HOME", "TMPDIR") if k in env}}
        return Confined(list(argv), own, cwd)
    return _confined(argv, cwd, readable, writable, network, env)


def _confined(
    argv: Sequence[str],
    cwd: Path,
    readable: Sequence[Path],
    writable: Sequence[Path],
    network: bool,
    env: Mapping[str, str],
) -> Confined:
    program = os.path.realpath(argv[0])
    environment = [f"{k}={v}" for k, v in sorted(env.items())]
    root = _root()
    mounts = _mounts(
        root,
        [*_SYSTEM, program, *(os.path.realpath(p) for p in readable)],
        [os.path.realpath(p) for p in writable],
    )
    wrapped = [
        _unshare(),
        "--user",
        "--map-root-user",
        "--mount",
        "--pid",
        "--fork",
        *([] if network else ["--net"]),
        "--",
        "/bin/sh",
        "-c",
        _SCRIPT,
        "kidp-sandbox",
        str(root),
        str(LIMITS.memory),
        mounts.table,
        mounts.dirs,
        mounts.files,
        "/usr/bin/env",
        "-i",
        "-C",
        os.path.realpath(cwd),
        *environment,
        program,
        *argv[1:],
    ]
    return Confined(wrapped, {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}, Path("/"))


@functools.cache
def available() -> str | None:
    """None when children can be confined here, else why not: probed once, by running
    `true` exactly as a build would run."""
    if not _unshare():
        return "the unshare program (util-linux) is not installed"
    probe = _confined(["/usr/bin/true"], Path("/"), (), (), False, {})
    try:
        done = subprocess.run(
            probe.argv, env=probe.env, cwd=probe.cwd, capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"cannot start unshare: {err}"
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = said[-1] if said else "no reason given"
        return f"user namespaces, or the mounts of a sandbox, are refused here ({why})"
    return None


def warn_if_unavailable() -> None:
    """Log once, at start, that builds run unconfined here and why."""
    why = available()
    if why is not None:
        log.warning(
            "repository builds run without a sandbox: %s; only the reference checks "
            "keep them inside their artifact (docs/security.md)",
            why,
        )


@functools.cache
def _unshare() -> str:
    return shutil.which("unshare") or ""


@functools.cache
def _fallback_scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="kidp-build-home-"))


@functools.cache
def _root() -> Path:
    """An empty directory of this process: every sandbox mounts its own root over it,
    each in its own mount namespace, so they never see one another."""
    return Path(tempfile.mkdtemp(prefix="kidp-sandbox-"))


# ---- bounds ---------------------------------------------------------------------------

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    memory: int = 1024 * MiB
    """Resident memory of one build's processes together, in bytes."""
    file_size: int = 8 * MiB
    """The largest file of a repository a build reads."""
    output: int = 64 * MiB
    """The most a build may write as its result: the engine reads it whole and parses
    it, so this bounds the engine's own memory for one build."""
    render: float = 60.0
    """Seconds a Helm chart's templates may render at most, whatever a HelmRelease's
    spec.timeout (src/kidp_gitops/helm/bounds.py: a quarter of it, at least 10 s unless
    this is less)."""


LIMITS = Limits()


def configure(limits: Limits) -> Limits:
    """Set the process's limits; returns the previous ones."""
    global LIMITS
    previous, LIMITS = LIMITS, limits
    return previous


class Guard:
    """Kills the process group `pgid` (every process of one build) if its resident
    memory passes `limit`, or the file `output` (its result) grows past LIMITS.output;
    `exceeded` says which ("memory", "output") or None. `start()` it once the child runs,
    `stop()` it when it ended. `stop` does not wait for the watching thread, so it may be
    called on the event loop: the thread ends within a poll, a group that has ended uses
    no memory, and an output file closed meanwhile ends the watch."""

    POLL = 0.2

    def __init__(self, pgid: int, limit: int | None = None, output: int | None = None):
        self.pgid = pgid
        self.limit = LIMITS.memory if limit is None else limit
        self.output = output
        """A file descriptor the child writes its result to."""
        self.exceeded: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="build-guard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.POLL):
            if group_rss(self.pgid) > self.limit:
                self.exceeded = "memory"
            elif self.output is not None and _size(self.output) > LIMITS.output:
                self.exceeded = "output"
            else:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, signal.SIGKILL)
            return


def _size(fd: int) -> int:
    try:
        return os.fstat(fd).st_size
    except OSError:  # closed: the run is over
        return 0


_PAGE = os.sysconf("SC_PAGE_SIZE")


def group_rss(pgid: int) -> int:
    """Resident bytes of the processes in group `pgid` (from /proc/<pid>/stat)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # Fields after the command name, which may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 21 and int(fields[2]) == pgid:
            total += int(fields[21]) * _PAGE
    return total
