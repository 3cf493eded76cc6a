"""`kidp controller run`'s multi-tenancy flags reach the Kustomization controller's
options, as Flux's kustomize-controller flags do."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli import controller
from kidp_gitops.cli.main import app
from kidp_gitops.engine.run import EngineOptions
from kidp_gitops.kustomize.reconciler import KustomizeOptions


class FakeEngine:
    seen: ClassVar[list[EngineOptions]] = []

    def __init__(self, options: EngineOptions):
        self.seen.append(options)

    async def run(self, *, handle_signals: bool = False) -> None:
        return None


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> type[FakeEngine]:
    FakeEngine.seen = []
    monkeypatch.setattr(controller, "Engine", FakeEngine)
    return FakeEngine


def test_flags_map_to_kustomize_options(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "controller", "run", "--data-dir", str(tmp_path), "--no-cross-namespace-refs",
            "--no-remote-bases", "--default-service-account", "tenant",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (options,) = engine.seen
    assert options.kustomize == KustomizeOptions(
        no_cross_namespace_refs=True, no_remote_bases=True, default_service_account="tenant"
    )


def test_defaults_are_flux_defaults(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["controller", "run", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert engine.seen[0].kustomize == KustomizeOptions()
