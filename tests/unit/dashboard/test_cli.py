"""How people reach the dashboard: `kidp controller run --dashboard-addr/--dashboard-actions`,
`kidp status -o json`'s `dashboard_url`, and `kidp dashboard`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.dashboard import DashboardApp
from kidp_gitops.engine import run as engine_run
from kidp_gitops.engine.run import EngineOptions, HttpApp
from kidp_gitops.local.environment import LocalEnvironment


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


def test_the_dashboard_listens_on_9080_with_actions_off(
    engine: type[FakeEngine], tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["controller", "run", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    ((dashboard,),) = engine.apps
    assert isinstance(dashboard, DashboardApp)
    assert (dashboard.host, dashboard.port) == ("127.0.0.1", 9080)
    assert dashboard.actions is False


def test_dashboard_flags_reach_the_engine(engine: type[FakeEngine], tmp_path: Path) -> None:
    args = ["controller", "run", "--data-dir", str(tmp_path)]
    args += ["--dashboard-addr", "0.0.0.0:8000", "--dashboard-actions"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    ((dashboard,),) = engine.apps
    assert isinstance(dashboard, DashboardApp)
    assert (dashboard.host, dashboard.port) == ("0.0.0.0", 8000)
    assert dashboard.actions is True


def test_status_names_the_dashboard_url(tmp_path: Path) -> None:
    (tmp_path / "local.json").write_text(json.dumps({"dashboard_port": 9080}))
    assert LocalEnvironment(tmp_path).status()["dashboard_url"] == "http://127.0.0.1:9080/"
    (tmp_path / "local.json").write_text(json.dumps({"metrics_port": 1}))  # before dashboards
    assert LocalEnvironment(tmp_path).status()["dashboard_url"] == ""


def test_kidp_dashboard_prints_the_url_or_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped = CliRunner().invoke(app, ["dashboard", "--state-dir", str(tmp_path)])
    assert stopped.exit_code == 1
    assert "kidp up" in stopped.output
    assert "port-forward" in stopped.output

    def running(self: LocalEnvironment) -> dict[str, Any]:
        return {"running": True, "dashboard_url": "http://127.0.0.1:9080/"}

    monkeypatch.setattr(LocalEnvironment, "status", running)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    shown = CliRunner().invoke(app, ["dashboard", "--state-dir", str(tmp_path), "--open"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.strip() == "http://127.0.0.1:9080/"
    assert opened == ["http://127.0.0.1:9080/"]
