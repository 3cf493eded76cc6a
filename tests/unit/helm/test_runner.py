"""What a failed helm command says: its error, on one line, without noise."""

from __future__ import annotations

from pathlib import Path

import pytest

from kidp_gitops.helm import binary, runner


def test_template_error_keeps_helms_whole_explanation() -> None:
    stderr = (
        "WARNING: Kubernetes configuration file is group-readable\n"
        "Error: UPGRADE FAILED: operators/templates/deployment.yaml:8:22\n"
        '  executing "operators/templates/deployment.yaml" at <.Values.a.b>:\n'
        "    nil pointer evaluating interface {}.b\n"
        "\n"
        "Use --debug flag to render out invalid YAML\n"
    )
    assert runner.message(stderr) == (
        "UPGRADE FAILED: operators/templates/deployment.yaml:8:22 executing "
        '"operators/templates/deployment.yaml" at <.Values.a.b>: nil pointer evaluating '
        "interface {}.b"
    )


def test_output_without_an_error_line_keeps_its_end() -> None:
    assert runner.message("one\ntwo\nthree\nfour\n") == "two three four"


def test_environment_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/secret/kubeconfig")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    env = runner._environment(tmp_path)
    assert env["KUBECONFIG"] != "/secret/kubeconfig"
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["HELM_CONFIG_HOME"].startswith(str(tmp_path))


def test_binary_override_must_be_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIDP_HELM", str(tmp_path / "nope"))
    with pytest.raises(binary.HelmNotFoundError, match="KIDP_HELM"):
        binary.find()
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KIDP_HELM", str(fake))
    assert binary.find() == fake


def test_cached_path_is_versioned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIDP_CACHE_DIR", str(tmp_path))
    expected = tmp_path / "helm" / f"helm-{binary.HELM_VERSION}" / "bin" / "helm"
    assert binary.cached_path() == expected
