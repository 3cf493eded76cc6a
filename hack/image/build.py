"""`make image`: build the engine's image into dist/image/ and print its reference.

    python -m hack.image.build [--output DIR] [--rebuild] [--verify] [--wheel FILE]

The steps: the engine's wheel (pip wheel, from this tree), helm (hack/helm/build.sh) and
the engine's Helm helper (hack/helm/server/build.sh), then — unless the layer of these
inputs is cached — Debian's packages (`debian`), the root filesystem (`rootfs`) and its
layer (`layout`). The layer is cached under <cache>/image/layers/<key>, the key a hash
of the inputs that make it: the wheel's bytes, helm's and the helper's bytes, this
builder's sources (which name the Debian packages) and the pip that installs. So an
unchanged tree does not rebuild, and a commit that changes no input (a README-only
change still changes the wheel) reuses the layer. The config and manifest are written on
every run: they carry the commit (revision) and its time (created).

What is not pinned: the Debian packages are the suite's current versions and the
engine's Python dependencies the newest that its requirements allow, at the time the
layer is built. Built twice from the same versions, the image is the same to the byte:
`--verify` builds the layer again from the same .debs and the same dependency files (the
layer's record names them; both are kept in the cache); /var/lib/dpkg/status and the
venv's dist-info say which versions an image holds. Each layer's record also says what
each phase of its build spent (`spent`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hack.image import debian, layout, rootfs, spent
from kidp_gitops.install import manifests

REPO = Path(__file__).resolve().parents[2]
PIP_VERSION = "26.3"
SOURCE = "https://github.com/kidp-gitops/kidp-gitops"
ENTRYPOINT = (f"{rootfs.VENV}/bin/kidp", "controller", "run")
ENV = (
    f"PATH={rootfs.PATH}",
    f"HOME={rootfs.HOME}",
    "LANG=C.UTF-8",
    "PYTHONDONTWRITEBYTECODE=1",
    "PYTHONUNBUFFERED=1",
)


def cache_dir() -> Path:
    explicit = os.environ.get("KIDP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kidp-gitops"


# A layer's tree — ~21,000 files, 540 MB — is written, read and removed in memory when
# /dev/shm has room: on this machine's ext4, unpacking that tree took 15-17 s of kernel
# CPU at times (3 s on tmpfs). The layer's bytes do not depend on where it was built.
SCRATCH = Path("/dev/shm")
SCRATCH_ROOM = 2 << 30


def scratch() -> str | None:
    """The directory for a build's temporary tree: SCRATCH when it has room, else the
    system's temporary directory (None)."""
    try:
        free = os.statvfs(SCRATCH)
    except OSError:
        return None
    return str(SCRATCH) if free.f_bavail * free.f_frsize >= SCRATCH_ROOM else None


def say(message: str) -> None:
    print(f"[image] {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheel(into: Path) -> Path:
    """The engine's wheel, built from this tree (hatchling's wheels are reproducible)."""
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(into), str(REPO)])
    (found,) = into.glob("kidp_gitops-*.whl")
    return found


def helm() -> list[Path]:
    """The helm program and the engine's Helm helper, each built (or found) in the cache."""
    scripts = (REPO / "hack/helm/build.sh", REPO / "hack/helm/server/build.sh")
    return [Path(_run(["bash", str(s)]).strip().splitlines()[-1]) for s in scripts]


def pip_wheel(into: Path) -> Path:
    """pip itself, run from its wheel inside the image (so the image holds no pip)."""
    found = list(into.glob(f"pip-{PIP_VERSION}-*.whl"))
    if not found:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(into),
                f"pip=={PIP_VERSION}",
            ]
        )
        found = list(into.glob(f"pip-{PIP_VERSION}-*.whl"))
    return found[0]


def layer_key(wheel_file: Path, helm_files: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for name in sorted(p.name for p in Path(__file__).parent.glob("*.py")):
        h.update(name.encode() + b"\0" + (Path(__file__).parent / name).read_bytes())
    h.update(_sha256(wheel_file).encode())
    for helm_file in helm_files:
        h.update(_sha256(helm_file).encode())
    h.update(PIP_VERSION.encode())
    return h.hexdigest()[:32]


@contextlib.contextmanager
def cache_lock(cache: Path) -> Iterator[None]:
    """The build cache to this process alone: its apt lists and downloads, and the
    layers' records. Two processes may ask at once (the pod test and the reproducibility
    test of one `make test`); the second finds the first's layer."""
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_layer(
    key: str,
    wheel_file: Path,
    helm_files: Sequence[Path],
    cache: Path,
    layers: Path,
    *,
    lock: bool,
    again: Mapping[str, Any] | None = None,
) -> dict[str, object]:
    """Build the layer of `key` into `layers` (the cache's, or another); returns its
    record. Downloads come from the cache, under its lock when `lock` (a caller that
    holds it says False). Debian's packages are the suite's current ones and the engine's
    dependencies the newest its requirements allow, unless `again` (the record of a
    layer built before) names the files to build from and the cache still holds them:
    the same .debs and dependency files, so the two builds can be compared."""
    layers.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    phases = spent.Spent()
    apt = debian.Apt(cache / "apt")
    with cache_lock(cache) if lock else contextlib.nullcontext(), phases("apt"):
        debs = apt.kept(again["debs"]) if again and "debs" in again else None
        if debs is None:
            if again:
                say("the .debs of the layer built before are not all in the cache")
            say(f"resolving Debian {debian.SUITE} packages")
            apt.update()
            debs = apt.download(apt.resolve(debian.ROOTS, debian.CUT))
        pip = pip_wheel(cache / "pip")
    say(f"{len(debs)} packages; assembling the root filesystem")
    with tempfile.TemporaryDirectory(prefix="kidp-image-", dir=scratch()) as tmp:
        inputs = Path(tmp) / "inputs"
        inputs.mkdir()
        shutil.copy(wheel_file, inputs / wheel_file.name)
        shutil.copy(pip, inputs / pip.name)
        tree = Path(tmp) / "rootfs"
        tree.mkdir()
        dependencies = Path(tmp) / "wheels"
        dependencies.mkdir()
        wheels = again.get("wheels") if again else None
        resolve = not (wheels and _copy_kept(cache / "wheels", wheels, dependencies))
        engine = rootfs.Engine(
            inputs / wheel_file.name, inputs / pip.name, cache / "pip-cache", dependencies, resolve
        )
        rootfs.assemble(tree, debs, helm_files, engine, phases)
        installed = {f.name: _sha256(f) for f in sorted(dependencies.iterdir())}
        if resolve:
            _keep(dependencies, cache / "wheels")
        say("writing the layer")
        with phases("layer"):
            blob = layout.layer(tree, Path(tmp) / "layer.tar.gz", rootfs.OWNED, ("tmp",))
        shutil.move(blob.path, layers / f"{key}.tar.gz")
        # The tree's own tmpfs-like files may be read-only to us: make them removable.
        subprocess.run(["chmod", "-R", "u+w", str(tree)], check=False)
    record: dict[str, object] = {
        "digest": blob.digest,
        "diff_id": blob.diff_id,
        "size": blob.size,
        "unpacked": blob.unpacked,
        "seconds": round(time.monotonic() - start, 1),
        "packages": {d.name: d.version for d in debs},
        "debs": {d.path.name: d.sha256 for d in debs},
        "wheels": installed,
        "phases": phases.phases,
    }
    say(f"phases: {phases.summary()}")
    (layers / f"{key}.json").write_text(json.dumps(record, indent=2, sort_keys=True))
    return record


def _copy_kept(kept: Path, wheels: Mapping[str, str], into: Path) -> bool:
    """Copy the files `wheels` names from `kept` into `into`; False when one is missing
    or is not the file it was."""
    for name, digest in sorted(wheels.items()):
        source = kept / name
        if not source.is_file() or _sha256(source) != digest:
            say(f"{name} is no longer in the cache: resolving the dependencies again")
            return False
        shutil.copyfile(source, into / name)
    return True


def _keep(wheels: Path, kept: Path) -> None:
    """The dependencies a build resolved to, kept by file name (PyPI never replaces a
    file): each written under a temporary name and renamed, so a reader sees whole
    files only."""
    kept.mkdir(parents=True, exist_ok=True)
    for wheel_file in sorted(wheels.iterdir()):
        if not (kept / wheel_file.name).exists():
            partial = kept / f".{wheel_file.name}.{os.getpid()}"
            shutil.copyfile(wheel_file, partial)
            partial.rename(kept / wheel_file.name)


def commit() -> tuple[str, str]:
    """HEAD's id and commit time (RFC 3339, UTC): the image's revision and creation."""
    revision = _run(["git", "rev-parse", "HEAD"], cwd=REPO).strip()
    seconds = int(_run(["git", "log", "-1", "--format=%ct"], cwd=REPO).strip())
    created = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return revision, created.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make image", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "dist" / "image")
    parser.add_argument(
        "--rebuild", action="store_true", help="build the layer again, even when cached"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="then build the layer a second time, elsewhere, and fail unless it is the same "
        "to the byte",
    )
    parser.add_argument(
        "--wheel",
        type=Path,
        help="the engine's wheel, built from this tree already (the test suite builds it once "
        "for the tests that need it); by default built here",
    )
    args = parser.parse_args(argv)
    cache = cache_dir() / "image"
    cache.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kidp-wheel-") as tmp:
        wheel_file = args.wheel or wheel(Path(tmp))
        version = wheel_file.name.split("-")[1]
        # One build of the cache's layer at a time; the second process finds it built.
        with cache_lock(cache):
            helm_files = helm()
            key = layer_key(wheel_file, helm_files)
            record_file = cache / "layers" / f"{key}.json"
            if record_file.exists() and not args.rebuild:
                record = json.loads(record_file.read_text())
                say(f"layer {key} cached")
            else:
                say(f"building layer {key}")
                record = build_layer(
                    key, wheel_file, helm_files, cache, cache / "layers", lock=False
                )
        if args.verify:
            # Into a directory of its own: the cache is locked only while this build
            # reads the downloads, so a process that wants the cached layer (the pod
            # test) does not wait for the whole second build.
            say("building the layer again, to compare")
            with tempfile.TemporaryDirectory(prefix="kidp-image-verify-") as other:
                second = build_layer(
                    key, wheel_file, helm_files, cache, Path(other), lock=True, again=record
                )
            if second["digest"] != record["digest"]:
                say(f"not reproducible: {record['digest']} then {second['digest']}")
                return 1
            say(f"reproducible: built twice, {second['digest']} both times")
    revision, created = commit()
    annotations = {
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.title": "kidp-gitops",
        "org.opencontainers.image.version": version,
    }
    image = layout.Image(
        user=f"{rootfs.UID}:{rootfs.UID}",
        entrypoint=ENTRYPOINT,
        env=ENV,
        working_dir=rootfs.DATA,
        annotations=annotations,
        created=created,
    )
    name, _, tag = manifests.IMAGE.rpartition(":")
    staging = args.output.with_name(args.output.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    blob_copy = staging.parent / f".{key}.tar.gz"
    staging.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache / "layers" / f"{key}.tar.gz", blob_copy)
    blob = layout.Layer(
        blob_copy,
        str(record["digest"]),
        str(record["diff_id"]),
        int(str(record["size"])),
        int(str(record["unpacked"])),
    )
    digest = layout.write(staging, blob, image, tag)
    shutil.rmtree(args.output, ignore_errors=True)
    staging.rename(args.output)
    summary = {
        "reference": f"{name}:{tag}@{digest}",
        "layout": str(args.output),
        "layer_key": key,
        "compressed_bytes": record["size"],
        "unpacked_bytes": record["unpacked"],
        "layer_build_seconds": record["seconds"],
        "seconds": round(time.monotonic() - start, 1),
    }
    (args.output.parent / "image.json").write_text(json.dumps(summary, indent=2) + "\n")
    say(
        f"{record['size'] / 1e6:.0f} MB compressed, {record['unpacked'] / 1e6:.0f} MB "
        f"unpacked; layer built in {record['seconds']} s; this run {summary['seconds']} s"
    )
    print(summary["reference"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
