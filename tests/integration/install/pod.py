"""The image of `make image`, run the way the kubelet runs a pod's container.

    build(output, wheel) -> Path             `make image` (its layers cached by key)
    Image.unpack(layout, into) -> Image      index → manifest → config and the layers, in order
    Pod(image, …).start(args, env)           the entrypoint in its own root filesystem

A pod's container, as far as the engine can tell: the image's tree as the root, mounted
read-only; a writable volume at /data and an emptyDir at /tmp (the Deployment's); the
ServiceAccount's token, ca.crt and namespace at /var/run/secrets/kubernetes.io/
serviceaccount; the config's User, Env and WorkingDir; KUBERNETES_SERVICE_HOST/PORT. It
runs in a user and mount namespace (unshare, no privilege), as the config's uid. What
differs: the network is the host's (the API server and git server listen on loopback),
so the Deployment's listen ports are moved to free ones, and there is no cgroup.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kidp_gitops.devcluster.cluster import free_port

REPO = Path(__file__).resolve().parents[3]
TOKEN_DIR = "var/run/secrets/kubernetes.io/serviceaccount"
# The host programs that set the container up (unshare, mount, pivot_root).
_HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def build(output: Path, wheel: Path) -> Path:
    """`make image` into `output`, with the engine's `wheel` built already; each layer
    comes from the cache when its inputs are unchanged (the base layer takes about half a
    minute when they are not, the engine's app layer seconds)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    done = subprocess.run(
        [sys.executable, "-m", "hack.image.build", "--output", str(output), f"--wheel={wheel}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return output


@dataclass(frozen=True)
class Image:
    root: Path
    config: Mapping[str, object]
    annotations: Mapping[str, str]

    @property
    def user(self) -> tuple[int, int]:
        uid, _, gid = str(self.config["User"]).partition(":")
        return int(uid), int(gid or uid)

    @staticmethod
    def unpack(layout: Path, into: Path) -> Image:
        def blob(digest: str) -> Path:
            return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")

        index = json.loads((layout / "index.json").read_text())
        (entry,) = index["manifests"]
        manifest = json.loads(blob(entry["digest"]).read_text())
        config = json.loads(blob(manifest["config"]["digest"]).read_text())
        layers = manifest["layers"]
        assert len(layers) == len(config["rootfs"]["diff_ids"])
        into.mkdir(parents=True)
        # Each layer over the ones before, the lowest first, as a runtime stacks them.
        # GNU tar, as a runtime's unpacker is native code: Python's tarfile took three
        # times its CPU for this half-GiB tree (16 s against 5). The layers are the
        # build's own (relative names, no setuid bit, no whiteout: the app layer only
        # adds files); root restores their owners, as tarfile did.
        for layer in layers:
            done = subprocess.run(
                ["tar", "-xzf", str(blob(layer["digest"])), "-C", str(into)],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr[-3000:]
        return Image(into, config["config"], manifest.get("annotations") or {})


# Run by the host's sh in a user and mount namespace where it is root: mounts what a
# runtime mounts, makes the image's tree read-only, then starts the entrypoint as the
# image's user in a nested user namespace (the one uid mapped).
# $1 root, $2 data volume, $3 tmp volume, $4 the token's directory, $5 uid, $6 gid.
_POD = r"""
set -eu
root=$1; data=$2; tmp=$3; token=$4; uid=$5; gid=$6; shift 6
mount --bind "$root" "$root"
mount -t tmpfs -o mode=0755,size=1m pod-dev "$root/dev"
for d in null zero full random urandom tty; do
  : > "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"
done
mount -t proc proc "$root/proc"
mount --bind "$data" "$root/data"
mount --bind "$tmp" "$root/tmp"
mkdir -p "$root/var/run/secrets/kubernetes.io/serviceaccount" 2>/dev/null || true
mount --bind "$token" "$root/var/run/secrets/kubernetes.io/serviceaccount"
mount -o remount,bind,ro "$root/var/run/secrets/kubernetes.io/serviceaccount"
mount --bind /etc/hosts "$root/etc/hosts"
mount -o remount,bind,ro "$root"
# The image becomes the root as a runtime makes it (pivot_root, the old root detached),
# not by chroot: the kernel refuses new user namespaces to a chrooted process, and the
# engine's build sandbox makes them. From here on, programs are the image's.
cd "$root"
pivot_root . .
umount -l .
exec unshare --user --map-user="$uid" --map-group="$gid" --wd=/data -- "$@"
"""


class Pod:
    """One container of the image; `start` it, `stop` it."""

    def __init__(self, image: Image, scratch: Path) -> None:
        self.image = image
        self.data = scratch / "data"
        self.tmp = scratch / "tmp"
        self.token_dir = scratch / "serviceaccount"
        self.log = scratch / "container.log"
        for d in (self.data, self.tmp, self.token_dir):
            d.mkdir(parents=True)
        # Mount points a runtime creates before it makes the root read-only.
        (image.root / TOKEN_DIR).mkdir(parents=True, exist_ok=True)
        (image.root / "etc/hosts").touch()
        self.process: subprocess.Popen[bytes] | None = None

    def write_token(self, token: str, ca: str, namespace: str) -> None:
        """The ServiceAccount's files, each replaced whole (as the kubelet swaps them)."""
        for name, content in (("ca.crt", ca), ("namespace", namespace), ("token", token)):
            staged = self.token_dir / f".{name}.new"
            staged.write_text(content)
            staged.chmod(0o644)
            staged.rename(self.token_dir / name)

    def _argv(self, command: Sequence[str]) -> list[str]:
        uid, gid = self.image.user
        return [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child=SIGTERM",  # unshare killed (a test's end): the container too
            "--",
            "/bin/sh",
            "-c",
            _POD,
            "kidp-pod",
            str(self.image.root),
            str(self.data),
            str(self.tmp),
            str(self.token_dir),
            str(uid),
            str(gid),
            *command,
        ]

    def _env(self, env: Mapping[str, str]) -> list[str]:
        image_env = [str(e) for e in self.image.config["Env"]]  # type: ignore[attr-defined]
        return ["/usr/bin/env", "-i", *image_env, *(f"{k}={v}" for k, v in env.items())]

    def start(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        """The entrypoint with the Deployment's `args` and `env`, in the background."""
        entrypoint = [str(a) for a in self.image.config["Entrypoint"]]  # type: ignore[attr-defined]
        argv = self._argv([*self._env(env), *entrypoint, *args])
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=_HOST_ENV
            )

    def run(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Another command in the same kind of container, to its end."""
        return subprocess.run(
            self._argv([*self._env({}), *command]),
            capture_output=True,
            text=True,
            timeout=120,
            env=_HOST_ENV,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """A pod's stop: SIGTERM to the container's process, SIGKILL after the grace
        period. The signal goes to unshare's child, the container's process (PID 1 of its
        namespace, which handles SIGTERM as a pod's must): unshare itself, waiting for it,
        blocks SIGTERM, so a SIGTERM to unshare left the engine running until the kill
        (60 s of every run)."""
        if self.process is None:
            return
        pid = self.process.pid
        with contextlib.suppress(OSError):  # ended already: no children to read
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                os.kill(int(child), signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def logs(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# The engine's listeners, each with a fixed loopback port when no flag names one.
LISTENERS = ("--metrics-addr", "--artifact-addr", "--receiver-addr", "--dashboard-addr")


def listen_on_free_ports(args: Sequence[str]) -> list[str]:
    """The Deployment's args with each `--*-addr=:PORT` moved to a free loopback port, and
    a free one for each listener it leaves at its default (the dashboard's 127.0.0.1:9080,
    which `kidp up` also takes, and a test of it may run meanwhile): the host's network
    is shared with other runs, a pod's is its own."""
    moved = []
    for arg in args:
        name, eq, value = arg.partition("=")
        if eq and name.endswith("-addr") and value.startswith(":"):
            arg = f"{name}=127.0.0.1:{free_port()}"
        moved.append(arg)
    named = {arg.partition("=")[0] for arg in moved}
    moved += [f"{flag}=127.0.0.1:{free_port()}" for flag in LISTENERS if flag not in named]
    return moved
