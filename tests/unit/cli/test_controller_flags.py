"""`kidp controller run`'s multi-tenancy flags reach the Kustomization controller's
options, as Flux's kustomize-controller flags do."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.engine import run as engine_run
from kidp_gitops.engine.run import EngineOptions, HttpApp
from kidp_gitops.kube.leader import LeaseTiming
from kidp_gitops.proc.sandbox import Limits, MiB
from kidp_gitops.runtime.tenancy import Lockdown


class FakeEngine:
    seen: ClassVar[list[EngineOptions]] = []
    apps: ClassVar[list[list[HttpApp]]] = []

    def __init__(self, options: EngineOptions, apps: Sequence[HttpApp] = ()):
        self.seen.append(options)
        self.apps.append(list(apps))

    async def run(self, *, handle_signals: bool = False) -> None:
        return None


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> type[FakeEngine]:
    FakeEngine.seen = []
    FakeEngine.apps = []
    # `controller run` imports the engine when it runs (so `kidp --help` does not).
    monkeypatch.setattr(engine_run, "Engine", FakeEngine)
    return FakeEngine


def test_flags_map_to_kustomize_options(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "controller", "run", "--data-dir", str(tmp_path), "--no-cross-namespace-refs",
            "--no-remote-bases", "--default-service-account", "tenant",
            "--default-kubeconfig-service-account=identity",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (options,) = engine.seen
    assert options.lockdown == Lockdown(
        no_cross_namespace_refs=True,
        no_remote_bases=True,
        default_service_account="tenant",
        default_kubeconfig_service_account="identity",
    )


def test_defaults_are_flux_defaults(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["controller", "run", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert engine.seen[0].lockdown == Lockdown()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--no-cross-namespace-refs=true"], Lockdown(no_cross_namespace_refs=True)),
        (["--no-cross-namespace-refs=false"], Lockdown()),
        (["--no-remote-bases=True", "--no-cross-namespace-refs"], Lockdown(True, True)),
        (["--no-remote-bases=0"], Lockdown()),
    ],
)
def test_switches_take_the_go_form_flux_patches_use(
    engine: type[FakeEngine], tmp_path: Path, args: list[str], expected: Lockdown
) -> None:
    """Multi-tenant Flux repositories patch `--no-cross-namespace-refs=true` into the
    controllers' args: the same words work here, and `=false` turns it off."""
    result = CliRunner().invoke(app, ["controller", "run", "--data-dir", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    assert engine.seen[0].lockdown == expected


def test_a_switch_with_another_value_is_refused(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["controller", "run", "--data-dir", str(tmp_path), "--no-remote-bases=yes"]
    )
    assert result.exit_code == 2
    assert "'yes' is not true or false" in result.output
    assert engine.seen == []


def test_leader_election_takes_the_go_form_too(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["controller", "run", "--data-dir", str(tmp_path), "--leader-elect=true"]
    )
    assert result.exit_code == 0, result.output
    assert engine.seen[0].leader_elect is True


def test_leader_election_has_fluxs_flags_and_defaults(
    engine: type[FakeEngine], tmp_path: Path
) -> None:
    base = ["controller", "run", "--data-dir", str(tmp_path)]
    assert CliRunner().invoke(app, base).exit_code == 0
    assert engine.seen[0].lease == LeaseTiming(35, 30, 5, release_on_cancel=True)
    flux_args = [
        "--enable-leader-election=true",
        "--leader-election-lease-duration=15s",
        "--leader-election-renew-deadline=10s",
        "--leader-election-retry-period=2s",
        "--leader-election-release-on-cancel=false",
    ]
    result = CliRunner().invoke(app, [*base, *flux_args])
    assert result.exit_code == 0, result.output
    assert engine.seen[1].leader_elect is True
    assert engine.seen[1].lease == LeaseTiming(15, 10, 2, release_on_cancel=False)


def test_lease_periods_that_do_not_decrease_are_refused(
    engine: type[FakeEngine], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "controller", "run", "--data-dir", str(tmp_path),
            "--leader-election-lease-duration=10s", "--leader-election-renew-deadline=20s",
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "lease duration > renew deadline" in result.output
    assert engine.seen == []


def test_build_limits_reach_the_engine(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "controller", "run", "--data-dir", str(tmp_path),
            "--build-memory-limit", "512", "--build-file-size-limit", "1024",
            "--helm-render-time-limit", "3",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # A render limit under the tenant's floor of 10 s is the operator's to set.
    assert engine.seen[0].build_limits == Limits(memory=512 * MiB, file_size=MiB, render=3)


def test_the_default_build_limits(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["controller", "run", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert engine.seen[0].build_limits == Limits(memory=1024 * MiB, file_size=8 * MiB)


def test_the_shard_selector_reaches_the_engine(engine: type[FakeEngine], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "controller", "run", "--data-dir", str(tmp_path),
            "--watch-label-selector", "sharding.fluxcd.io/key=shard1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert engine.seen[0].watch_label_selector == "sharding.fluxcd.io/key=shard1"


def test_controllers_name_what_the_process_runs(engine: type[FakeEngine], tmp_path: Path) -> None:
    from kidp_gitops.api import components

    every = CliRunner().invoke(app, ["controller", "run", "--data-dir", str(tmp_path)])
    assert every.exit_code == 0, every.output
    assert engine.seen[-1].controllers == components.ALL
    assert engine.seen[-1].lease_name() == "kidp-controller-leader"
    assert engine.apps[-1], "one process of everything serves the dashboard"

    source = CliRunner().invoke(
        app, ["controller", "run", "--data-dir", str(tmp_path), "--controllers=source"]
    )
    assert source.exit_code == 0, source.output
    assert engine.seen[-1].controllers == (components.SOURCE,)
    assert engine.seen[-1].lease_name() == "source-controller-leader-election"
    assert engine.apps[-1] == [], "the dashboard is served by kustomize-controller only"

    unknown = CliRunner().invoke(
        app, ["controller", "run", "--data-dir", str(tmp_path), "--controllers=source,flux"]
    )
    assert unknown.exit_code != 0
    assert "unknown controller flux" in unknown.output
