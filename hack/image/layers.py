"""The image's two layers, each cached by a key of what makes it.

    requirements(wheel) -> str               the engine's dependencies, as pip reads them
    base_key(inputs) / app_key(inputs, base_digest) -> str
    build(inputs, cache, into, ...) -> (base record, app record)

The base layer is everything but the engine's own package: Debian's packages, the system
files, helm and the Helm helper (`rootfs`), the venv with the engine's dependencies and
their bytecode (`venv.install_dependencies`). Its key holds helm's and the helper's
bytes, this builder's sources (which name the Debian packages), pip's wheel and the
engine wheel's requirements — not the wheel's bytes, so a commit that changes only the
engine's code reuses it. The app layer is what `pip install --no-deps` of the engine's
wheel adds into that venv, and its bytecode (`venv.install_engine`), built over the base
layer's tree (just built, or unpacked from its blob); its key holds the wheel's bytes and
the base layer's digest. The import check runs on the two together.

Each layer is a blob `<into>/<base|app>-<key>.tar.gz` and a record beside it (`.json`):
its digest, diff_id and sizes, what each phase of its build spent (`spent`), and for the
base layer the .debs and dependency files it was built from, which a second build
(`again`) takes so that the two can be compared. The newest base layer's tar is kept
uncompressed beside it too (`<into>/base-<key>.tar`), to unpack its tree fast.
"""

from __future__ import annotations

import contextlib
import email
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hack.image import debian, layout, rootfs, spent, venv
from kidp_gitops.storage import artifacts

Record = dict[str, Any]

# A base layer's tree — ~21,000 files, 540 MB — is written, read and removed in memory
# when /dev/shm has room: on this machine's ext4, unpacking that tree took 15-17 s of
# kernel CPU at times (3 s on tmpfs). The layers' bytes do not depend on where they were
# built.
SCRATCH = Path("/dev/shm")
SCRATCH_ROOM = 2 << 30

# A requirement of an extra (`pytest>=8.3; extra == 'dev'`): not installed in the image.
_OF_AN_EXTRA = re.compile(r";.*\bextra\s*==")


@dataclass(frozen=True)
class Inputs:
    """What the two layers are made of, besides Debian's packages and the dependencies'
    files (which a build resolves, or takes from the record of the one before)."""

    wheel: Path  # the engine's
    requirements: str  # its dependencies (`requirements(wheel)`)
    programs: Sequence[Path]  # helm and the engine's Helm helper
    pip: Path  # pip's wheel, which installs (and is not installed)


def say(message: str) -> None:
    print(f"[image] {message}", file=sys.stderr, flush=True)


def scratch() -> str | None:
    """The directory for a build's temporary tree: SCRATCH when it has room, else the
    system's temporary directory (None)."""
    try:
        free = os.statvfs(SCRATCH)
    except OSError:
        return None
    return str(SCRATCH) if free.f_bavail * free.f_frsize >= SCRATCH_ROOM else None


@contextlib.contextmanager
def cache_lock(cache: Path) -> Iterator[None]:
    """The build cache to this process alone: its apt lists and downloads, and the
    layers' records. Two processes may ask at once (the pod test and the reproducibility
    test of one `make test`); the second finds the first's layers."""
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def requirements(wheel: Path) -> str:
    """The engine's dependencies as its wheel's METADATA names them (Requires-Dist), one
    a line, sorted, without those of an extra: what the image installs."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(name))
    wanted = [r for r in metadata.get_all("Requires-Dist") or [] if not _OF_AN_EXTRA.search(r)]
    return "".join(f"{r}\n" for r in sorted(wanted))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key(kind: str, inputs: Inputs, *parts: str) -> str:
    """A hash of `parts` and of what makes either layer: this builder's sources (the
    Debian packages, the install's and the bytecode's options), the engine's module
    that writes each file into a layer (`layout` uses it: its modes and times are the
    layer's bytes) and pip's wheel."""
    h = hashlib.sha256(kind.encode() + b"\0")
    here = Path(__file__).parent
    for name in sorted(p.name for p in here.glob("*.py")):
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    h.update(Path(artifacts.__file__).read_bytes())
    h.update(_sha256(inputs.pip).encode())
    for part in parts:
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:32]


def base_key(inputs: Inputs) -> str:
    return _key("base", inputs, inputs.requirements, *(_sha256(p) for p in inputs.programs))


def app_key(inputs: Inputs, base_digest: str) -> str:
    return _key("app", inputs, _sha256(inputs.wheel), base_digest)


def _cached(into: Path, name: str) -> Record | None:
    record = into / f"{name}.json"
    if record.exists() and (into / f"{name}.tar.gz").exists():
        found: Record = json.loads(record.read_text())
        return found
    return None


def build(
    inputs: Inputs,
    cache: Path,
    into: Path,
    *,
    lock: bool,
    reuse: bool,
    again: Mapping[str, Any] | None = None,
) -> tuple[Record, Record]:
    """The base and the app layer of `inputs` in `into` (the cache's, or another), each
    found there when `reuse`, else built; returns their records. Downloads come from the
    `cache`, under its lock when `lock` (a caller that holds it says False). Debian's
    packages are the suite's current ones and the engine's dependencies the newest its
    requirements allow, unless `again` (the record of a base layer built before) names
    the files to build from and the cache still holds them: the same .debs and
    dependency files, so the two builds can be compared."""
    into.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kidp-image-", dir=scratch()) as tmp:
        work = Path(tmp)
        tree = work / "rootfs"
        key = base_key(inputs)
        base = _cached(into, f"base-{key}") if reuse else None
        if base is None:
            say(f"building the base layer {key}")
            base = _build_base(f"base-{key}", inputs, cache, into, work, lock, again, reuse)
        else:
            say(f"base layer {key} cached")
        key = app_key(inputs, base["digest"])
        app = _cached(into, f"app-{key}") if reuse else None
        if app is None:
            say(f"building the app layer {key}")
            app = _build_app(f"app-{key}", inputs, base, cache, into, work)
        else:
            say(f"app layer {key} cached")
        # The tree's own tmpfs-like files may be read-only to us: make them removable.
        if tree.exists():
            subprocess.run(["chmod", "-R", "u+w", str(tree)], check=False)
    return base, app


def _build_base(
    name: str,
    inputs: Inputs,
    cache: Path,
    into: Path,
    work: Path,
    lock: bool,
    again: Mapping[str, Any] | None,
    plain: bool,
) -> Record:
    """The base layer, from the tree it leaves at `work`/rootfs for the app layer; with
    its tar uncompressed beside it when `plain` (`_keep_plain`)."""
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
    say(f"{len(debs)} packages; assembling the root filesystem")
    tree = work / "rootfs"
    tree.mkdir()
    pip = _pip(inputs, cache, work / "base-inputs", work / "wheels")
    requirements = pip.inputs / "requirements.txt"
    requirements.write_text(inputs.requirements)
    wheels = again.get("wheels") if again else None
    resolve = not (wheels and _copy_kept(cache / "wheels", wheels, pip.wheels))
    rootfs.assemble(tree, debs, inputs.programs, phases)
    venv.install_dependencies(tree, pip, requirements, resolve, phases)
    installed = {f.name: _sha256(f) for f in sorted(pip.wheels.iterdir())}
    if resolve:
        _keep(pip.wheels, cache / "wheels")
    if not plain:  # a plain tar of this key from before (`--rebuild`) is not this layer
        (into / f"{name}.tar").unlink(missing_ok=True)
    with _keep_plain(into, name) if plain else contextlib.nullcontext() as copy:
        record = _write(name, into, tree, None, phases, start, copy)
    record.update(
        {
            "packages": {d.name: d.version for d in debs},
            "debs": {d.path.name: d.sha256 for d in debs},
            "wheels": installed,
        }
    )
    (into / f"{name}.json").write_text(json.dumps(record, indent=2, sort_keys=True))
    return record


def _build_app(
    name: str, inputs: Inputs, base: Record, cache: Path, into: Path, work: Path
) -> Record:
    """The app layer, over the base layer's tree at `work`/rootfs: the one just built,
    or the base layer's blob unpacked there."""
    start = time.monotonic()
    phases = spent.Spent()
    tree = work / "rootfs"
    if not tree.exists():
        with phases("base unpacked"):
            tree.mkdir()
            # GNU tar, as a runtime's unpacker is native code (Python's tarfile took three
            # times its CPU for this tree); from the plain tar when it is kept.
            plain = into / f"{base['name']}.tar"
            packed = ["-xf", str(plain)] if plain.exists() else ["-xzf", str(blob(into, base).path)]
            subprocess.run(["tar", *packed, "-C", str(tree)], check=True)
    pip = _pip(inputs, cache, work / "app-inputs", work / "app-wheels")
    wheel = pip.inputs / inputs.wheel.name
    shutil.copy(inputs.wheel, wheel)
    names = venv.install_engine(tree, pip, wheel, phases)
    record = _write(name, into, tree, names, phases, start)
    record.update({"base": base["digest"], "files": len(names)})
    (into / f"{name}.json").write_text(json.dumps(record, indent=2, sort_keys=True))
    return record


def _pip(inputs: Inputs, cache: Path, directory: Path, wheels: Path) -> venv.Pip:
    """pip's wheel copied into `directory`, a build's inputs."""
    directory.mkdir()
    shutil.copy(inputs.pip, directory / inputs.pip.name)
    return venv.Pip(directory / inputs.pip.name, cache / "pip-cache", wheels)


def _write(
    name: str,
    into: Path,
    tree: Path,
    only: Sequence[str] | None,
    phases: spent.Spent,
    start: float,
    plain: Path | None = None,
) -> Record:
    """The blob of `tree` (or of its names `only`) into `into`, its tar uncompressed at
    `plain` when given, and its record's common part."""
    say(f"writing the {name.partition('-')[0]} layer")
    with phases("layer"):
        out = tree.parent / "layer.tar.gz"
        blob = layout.layer(tree, out, rootfs.OWNED, ("tmp",), only, plain)
    shutil.move(blob.path, into / f"{name}.tar.gz")
    say(f"phases: {phases.summary()}")
    return {
        "name": name,
        "digest": blob.digest,
        "diff_id": blob.diff_id,
        "size": blob.size,
        "unpacked": blob.unpacked,
        "seconds": round(time.monotonic() - start, 1),
        "phases": phases.phases,
    }


@contextlib.contextmanager
def _keep_plain(into: Path, name: str) -> Iterator[Path]:
    """A path for the base layer's tar, uncompressed, renamed `<into>/<name>.tar` once
    written whole; the plain tars of other base layers are removed then. Unpacking a
    base layer's tree for the app layer took 2.5 CPU-s more from the gzip blob (its
    inflate) than from this copy; one copy is kept (540 MB), of the newest base layer.
    Only the cache's build (under the cache's lock) keeps one and reads it."""
    partial = into / f".{name}.tar.{os.getpid()}"
    try:
        yield partial
        for other in into.glob("base-*.tar"):
            other.unlink()
        partial.rename(into / f"{name}.tar")
    finally:
        partial.unlink(missing_ok=True)


def blob(into: Path, record: Mapping[str, Any]) -> layout.Layer:
    """The layer of `record`, in `into`."""
    return layout.Layer(
        into / f"{record['name']}.tar.gz",
        str(record["digest"]),
        str(record["diff_id"]),
        int(record["size"]),
        int(record["unpacked"]),
    )


def _copy_kept(kept: Path, wheels: Mapping[str, str], into: Path) -> bool:
    """Copy the files `wheels` names from `kept` into `into`; False when one is missing
    or is not the file it was."""
    into.mkdir(parents=True, exist_ok=True)
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
