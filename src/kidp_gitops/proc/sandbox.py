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

# Run by `sh` inside the new namespaces: $1 the empty directory that becomes the root,
# $2 the size of /tmp, then "ro" paths, "rw" paths, "--", and the command. Paths arrive
# as arguments, never spliced into the script, so no name can inject a command.
#
# The new root replaces the old one (pivot_root, then the old one is unmounted): a
# chroot alone would leave the host's tree mounted, and a root that chroots again can
# climb out of a chroot. The command then runs with no capability at all (an empty
# bounding set, no new privileges): it cannot mount, chroot or pivot again.
_SCRIPT = r"""
set -eu
root=$1; tmp_size=$2; shift 2
mount -t tmpfs -o mode=0755,size=16m kidp-sandbox "$root"
mkdir -p "$root/tmp" "$root/home"
mount -t tmpfs -o "mode=1777,size=$tmp_size" kidp-tmp "$root/tmp"
mount -t tmpfs -o mode=0700,size=64m kidp-home "$root/home"
bind() {  # bind MODE PATH: PATH of the host at the same path under the new root
  src=$2
  if [ -L "$2" ]; then
    target=$(readlink -f "$2") || return 0
    if [ -e "$root$target" ]; then  # a link within what is bound (/bin -> usr/bin)
      mkdir -p "$root$(dirname "$2")"; ln -sfn "$(readlink "$2")" "$root$2"; return 0
    fi
    src=$target  # a link out of it (/etc/resolv.conf -> /run/...): its target, here
  fi
  [ -e "$src" ] || return 0
  if [ "$root$2" -ef "$src" ]; then return 0; fi  # inside something bound already
  if [ -d "$src" ]; then mkdir -p "$root$2"; else mkdir -p "$root$(dirname "$2")"; : >"$root$2"; fi
  mount --rbind "$src" "$root$2"
  if [ "$1" = ro ]; then mount -o remount,bind,ro "$root$2"; fi
}
mode=ro
while [ "$1" != -- ]; do
  case "$1" in ro|rw) mode=$1 ;; *) bind "$mode" "$1" ;; esac
  shift
done
shift
mkdir "$root/proc"  # this pid namespace's own: umount reads the mount table there
mount -t proc kidp-proc "$root/proc"
cd "$root"
mkdir .old
pivot_root . .old
cd /
umount -l /.old
rmdir /.old
exec setpriv --no-new-privs --bounding-set -all --inh-caps -all -- "$@"
"""


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
        str(_root()),
        str(LIMITS.memory),
        "ro",
        *_SYSTEM,
        program,
        *(os.path.realpath(p) for p in readable),
        "rw",
        *(os.path.realpath(p) for p in writable),
        "--",
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
        return f"user namespaces are not permitted here ({said[-1] if said else 'no reason'})"
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
    spec.timeout (src/kidp_gitops/helm/bounds.py: a quarter of it, at least 10 s)."""


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
