"""`DevCluster` and `kidp dev cluster` as a user drives them: start, report, refuse a
second start, explain a failed start, stop everything."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli.main import app
from kidp_gitops.devcluster import AlreadyRunning, ComponentFailed, DevCluster, processes
from kidp_gitops.devcluster import binaries as binaries_mod


def test_status_reports_every_component(cluster: DevCluster) -> None:
    result = CliRunner().invoke(
        app, ["dev", "cluster", "status", "--state-dir", str(cluster.dir), "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["running"] is True
    assert status["server"].startswith("https://127.0.0.1:")
    names = {c["name"] for c in status["components"]}
    assert names == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    for c in status["components"]:
        assert Path(c["log"]).is_file()


def test_kubeconfig_command_prints_the_admin_kubeconfig(cluster: DevCluster) -> None:
    result = CliRunner().invoke(
        app, ["dev", "cluster", "kubeconfig", "--state-dir", str(cluster.dir)]
    )
    assert result.exit_code == 0
    assert result.output.strip() == str(cluster.kubeconfig)
    assert cluster.kubeconfig.stat().st_mode & 0o077 == 0  # credentials: owner only


async def test_a_second_up_reports_the_running_cluster(cluster: DevCluster) -> None:
    before = cluster.state()
    assert before is not None
    with pytest.raises(AlreadyRunning) as running:
        await DevCluster(cluster.dir).up()
    assert running.value.status.server == before.server
    assert cluster.state() == before


def test_status_of_a_stopped_cluster_exits_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dev", "cluster", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 3


async def test_a_failed_start_names_the_component_and_shows_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = binaries_mod.ensure_binaries()
    broken = tmp_path / "controlplane" / "bin"
    broken.mkdir(parents=True)
    for name in binaries_mod.COMPONENTS:
        os.symlink(real.path(name), broken / name)
    shutil.copy(real.kwok_stages, broken.parent / real.kwok_stages.name)
    # A kube-scheduler that cannot start: a flag the real one rejects.
    (broken / "kube-scheduler").unlink()
    (broken / "kube-scheduler").write_text(
        f'#!/bin/sh\n{real.path("kube-scheduler")} --no-such-flag "$@"\n'
    )
    (broken / "kube-scheduler").chmod(0o755)
    monkeypatch.setenv("KIDP_CONTROLPLANE_BIN", str(broken))

    dev = DevCluster(tmp_path / "state")
    with pytest.raises(ComponentFailed) as failed:
        await dev.up(timeout=60)
    assert failed.value.component == "kube-scheduler", str(failed.value)
    assert "unknown flag: --no-such-flag" in str(failed.value)
    # Nothing is left running after a failed start.
    assert dev.state() is None
    assert dev.status().components == []


async def test_down_stops_every_process_it_started(tmp_path: Path) -> None:
    dev = DevCluster(tmp_path / "state")
    status = await dev.up()
    pids = {c.name: c.pid for c in status.components}
    bin_dir = Path(dev.state().bin_dir)  # type: ignore[union-attr]
    assert len(pids) == 5
    assert dev.down() is True
    for name, pid in pids.items():
        assert not processes.alive(pid, bin_dir / name), name
    assert not dev.kubeconfig.exists()
    assert (dev.logs / "kube-apiserver.log").is_file()  # logs stay for a post-mortem
    assert dev.down() is False
