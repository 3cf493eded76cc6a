"""`make image` twice from the same package versions: the same layer, to the byte.

The layer of the tree (cached by key, or built now) is built a second time, elsewhere, in
another process, from the same inputs — the .debs and the dependency files its record
names, kept in the cache, and the run's wheel of the engine (`engine_wheel`) — and
compared (`hack.image.build --verify`): sorted entries, fixed times and owners, hash-based
bytecode, a gzip stream without a name or time. What the second build does not do is
resolve again against Debian's mirror and PyPI: a release there between the two builds
would change the inputs, not show a build that is not reproducible.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_two_builds_give_the_same_layer(tmp_path: Path, engine_wheel: Path) -> None:
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
