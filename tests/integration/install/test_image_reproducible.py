"""`make image` twice from the same package versions: the same layers, to the byte.

Both layers of the tree — the base layer (Debian's packages, helm, the engine's
dependencies) and the app layer (the engine) over it, each cached by key or built now —
are built a second time, elsewhere, in another process, from the same inputs — the .debs
and the dependency files the base layer's record names, kept in the cache, and the run's
wheel of the engine (`engine_wheel`) — and compared (`hack.image.build --verify`): sorted
entries, fixed times and owners, hash-based bytecode, a gzip stream without a name or
time. What the second build does not do is resolve again against Debian's mirror and
PyPI: a release there between the two builds would change the inputs, not show a build
that is not reproducible.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_two_builds_give_the_same_layers(tmp_path: Path, engine_wheel: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
    output = tmp_path / "image"
    build = ["--output", str(output), "--verify", f"--wheel={engine_wheel}"]
    done = subprocess.run(
        [sys.executable, "-m", "hack.image.build", *build],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reproducible: built twice" in done.stderr
    assert (output / "index.json").is_file()
    # Each layer of the image written was built twice, to the same digest.
    (entry,) = json.loads((output / "index.json").read_text())["manifests"]
    manifest = json.loads((output / "blobs/sha256" / entry["digest"][7:]).read_text())
    (compared,) = [line for line in done.stderr.splitlines() if "reproducible:" in line]
    assert len(manifest["layers"]) == 2
    assert all(layer["digest"] in compared for layer in manifest["layers"])
