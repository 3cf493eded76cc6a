"""The page's rendering functions (static/app.js), run under node.

The script has no build step and no dependencies, so plain `node` runs its pure
functions (escaping, filtering, counts, trees, stream updates). Without node this test
fails and says so: it is never skipped silently.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
APP_JS = HERE.parents[2] / "src" / "kidp_gitops" / "dashboard" / "static" / "app.js"


def test_app_js_rendering_functions() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: the dashboard's JavaScript tests need it (apt install nodejs)"
        )
    done = subprocess.run(
        [node, str(HERE / "app_test.js"), str(APP_JS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checks passed" in done.stdout
