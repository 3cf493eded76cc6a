"""`kidp validate` through the installed `kidp` program, as a pre-commit hook runs it:
one line per finding, a JSON document for CI, and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "kidp-infrastructure"


def kidp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    program = Path(sys.executable).parent / "kidp"
    assert program.is_file(), "the kidp console script is not installed (make setup)"
    env = {k: v for k, v in os.environ.items() if k != "SOPS_AGE_KEY_FILE"}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [str(program), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    deployment = repo / "infrastructure/base/operators/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("replicas:", "replicaz:", 1))
    (repo / "policies/secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: team-backend\n"
        "stringData:\n  password: hunter2\n"
    )
    return repo


def test_the_example_is_valid_from_its_own_directory() -> None:
    done = kidp("validate", cwd=EXAMPLE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("✔ valid")
    assert "4 builds" in done.stderr


def test_findings_are_one_line_each_and_exit_1(broken: Path) -> None:
    done = kidp("validate", str(broken))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("infrastructure/base/operators/deployment.yaml:")
    assert (
        "error [schema] Deployment/kidp-system/kidp-operator: spec.replicaz: unknown field"
        in (lines[0])
    )
    assert lines[1].startswith("policies/secret.yaml:6: error [secret] Secret/team-backend/db:")
    assert "hunter2" not in done.stdout + done.stderr
    assert done.stderr.startswith("✗ 2 errors")


def test_json_output_for_ci(broken: Path) -> None:
    done = kidp("validate", str(broken), "-o", "json", "--kubernetes-version", "1.35")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["valid"] is False
    assert report["kubernetesVersion"] == "1.35"
    assert report["summary"]["errors"] == 2
    assert {f["check"] for f in report["findings"]} == {"schema", "secret"}
    assert all(
        {"file", "line", "severity", "object", "message"} <= set(f) for f in report["findings"]
    )


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    done = kidp("validate", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert "is not a directory" in done.stderr
    done = kidp("validate", str(EXAMPLE), "--kubernetes-version", "9.9")
    assert done.returncode == 2
    assert "no schemas for Kubernetes 9.9" in done.stderr
    done = kidp("validate", str(EXAMPLE), "--sops-age-key-file", str(tmp_path / "nokey"))
    assert done.returncode == 2


def test_help_documents_the_plaintext_annotation() -> None:
    done = kidp("validate", "--help")
    assert done.returncode == 0
    assert "validate.kidp.dev/allow-plaintext" in done.stdout
    assert "--strict" in done.stdout


def test_the_help_constants_are_the_checks() -> None:
    """The command writes two of the checks' constants out, so that `--help` does not
    load the checks; they are the checks' own."""
    from kidp_gitops import validate as checks
    from kidp_gitops.cli import validate

    assert f"{checks.ALLOW_ANNOTATION}: " in (validate.validate.__doc__ or "")
    assert validate.DEFAULT_KUBERNETES_VERSION == checks.DEFAULT_KUBERNETES_VERSION
