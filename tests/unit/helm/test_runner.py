"""What a failed helm command says: its error, on one line, without noise."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from kidp_gitops.helm import binary, bounds, runner


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


async def test_gos_reason_for_a_crash_is_kept_past_its_stack_dump() -> None:
    # A crash prints its reason first, then every goroutine's stack: tens of KiB, far
    # past the tail of standard error kept.
    frames = b"".join(
        b"goroutine %d [select]:\nk8s.io/client-go/tools/cache.(*Reflector).watch(0xc0)\n\n" % i
        for i in range(2000)
    )
    stderr = asyncio.StreamReader()
    stderr.feed_data(b"fatal error: runtime: out of memory\n\n" + frames)
    stderr.feed_eof()
    running = runner._Running(cast(asyncio.subprocess.Process, _Process(stderr)), alone=True)
    await runner._drain(running)
    assert b"out of memory" not in running.stderr  # the tail: frames only
    assert running.headlines == [b"fatal error: runtime: out of memory"]
    assert bounds.convicts(2, runner._last_words(running))


class _Process:
    def __init__(self, stderr: asyncio.StreamReader):
        self.stderr = stderr
