"""`make image`: build the engine's image into dist/image/ and print its reference.

    python -m hack.image.build [--output DIR] [--rebuild] [--verify] [--wheel FILE]

The steps: the engine's wheel (pip wheel, from this tree), helm (hack/helm/build.sh) and
the engine's Helm helper (hack/helm/server/build.sh), then the image's two layers
(`layers`), each unless cached: the base layer — Debian's packages (`debian`), the root
filesystem (`rootfs`), the venv with the engine's dependencies (`venv`) — and the app
layer, the engine's own package installed over it. They are cached under
<cache>/image/layers/, each by a key of the inputs that make it: the base layer's holds
the wheel's requirements, not its bytes, so a commit that changes only the engine's code
rebuilds only the app layer (a few MB), and an unchanged tree rebuilds nothing. The
config and manifest are written on every run (`layout`): they carry the commit
(revision) and its time (created).

What is not pinned: the Debian packages are the suite's current versions and the
engine's Python dependencies the newest that its requirements allow, at the time the
base layer is built. A cached base layer keeps them until its key changes: `--rebuild`
takes Debian's security fixes and new releases on PyPI. Built twice from the same
versions, the image is the same to the byte: `--verify` builds both layers again from
the same .debs and the same dependency files (the base layer's record names them; both
are kept in the cache) and compares their digests; /var/lib/dpkg/status and the venv's
dist-info say which versions an image holds. Each layer's record also says what each
phase of its build spent (`spent`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hack.image import layers, layout, rootfs
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


def _run(argv: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


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
        "--rebuild", action="store_true", help="build the layers again, even when cached"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="then build both layers a second time, elsewhere, and fail unless they are the "
        "same to the byte",
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
        # One build of the cache's layers at a time; the second process finds them built.
        with layers.cache_lock(cache):
            inputs = layers.Inputs(
                wheel_file, layers.requirements(wheel_file), helm(), pip_wheel(cache / "pip")
            )
            built = layers.build(
                inputs, cache, cache / "layers", lock=False, reuse=not args.rebuild
            )
        if args.verify:
            # Into a directory of its own: the cache is locked only while this build
            # reads the downloads, so a process that wants the cached layers (the pod
            # test) does not wait for the whole second build.
            layers.say("building the two layers again, to compare")
            with tempfile.TemporaryDirectory(prefix="kidp-image-verify-") as other:
                again = layers.build(
                    inputs, cache, Path(other), lock=True, reuse=False, again=built[0]
                )
            first = [r["digest"] for r in built]
            second = [r["digest"] for r in again]
            if first != second:
                layers.say(f"not reproducible: {', '.join(first)} then {', '.join(second)}")
                return 1
            layers.say(f"reproducible: built twice, {' and '.join(first)} both times")
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
        history=(
            "Debian's packages, helm, the engine's dependencies",
            f"kidp-gitops {version}",
        ),
    )
    name, _, tag = manifests.IMAGE.rpartition(":")
    staging = args.output.with_name(args.output.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    blobs = []
    for record in built:
        cached = layers.blob(cache / "layers", record)
        copy = staging.parent / f".{cached.path.name}"
        shutil.copyfile(cached.path, copy)
        blobs.append(dataclasses.replace(cached, path=copy))
    digest = layout.write(staging, blobs, image, tag)
    shutil.rmtree(args.output, ignore_errors=True)
    staging.rename(args.output)
    base, app = built
    summary = {
        "reference": f"{name}:{tag}@{digest}",
        "layout": str(args.output),
        "layer_key": app["name"],
        "compressed_bytes": base["size"] + app["size"],
        "unpacked_bytes": base["unpacked"] + app["unpacked"],
        "layer_build_seconds": round(base["seconds"] + app["seconds"], 1),
        "layers": [
            {
                "key": r["name"],
                "digest": r["digest"],
                "compressed_bytes": r["size"],
                "unpacked_bytes": r["unpacked"],
                "build_seconds": r["seconds"],
            }
            for r in built
        ],
        "seconds": round(time.monotonic() - start, 1),
    }
    (args.output.parent / "image.json").write_text(json.dumps(summary, indent=2) + "\n")
    for kind, r in zip(("base", "app"), built, strict=True):
        layers.say(
            f"{kind} layer: {r['size'] / 1e6:.1f} MB compressed, {r['unpacked'] / 1e6:.1f} MB "
            f"unpacked, built in {r['seconds']} s"
        )
    layers.say(f"this run {summary['seconds']} s")
    print(summary["reference"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
