"""bench/fluxcontrollers.py without Go or Flux's binaries: where a controller is cached,
what the build refuses and says, the flags each process gets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from bench import fluxcontrollers
from bench.fluxcontrollers import (
    HELM_CONTROLLER,
    SOURCE_CONTROLLER,
    Built,
    Controller,
    FluxControllers,
    FluxSourceMissing,
    Ports,
)


def test_the_cache_key_is_name_and_version(tmp_path: Path) -> None:
    assert SOURCE_CONTROLLER.binary(tmp_path) == (
        tmp_path / "flux-controllers" / "source-controller-v1.9.1" / "bin" / "source-controller"
    )
    assert SOURCE_CONTROLLER.crds(tmp_path) == (
        tmp_path / "flux-controllers" / "source-controller-v1.9.1" / "crds"
    )
    newer = Controller("source-controller", "v1.9.2")
    assert newer.home(tmp_path) != SOURCE_CONTROLLER.home(tmp_path)


def test_a_substituted_module_is_part_of_the_key_and_of_the_recorded_version(
    tmp_path: Path,
) -> None:
    as_released = Controller("helm-controller", "v1.6.3")
    assert HELM_CONTROLLER.home(tmp_path) != as_released.home(tmp_path)
    assert HELM_CONTROLLER.label() == "helm-controller-v1.6.3+helm.sh_helm_v4@v4.2.4"
    assert Built(tmp_path).versions()["helm-controller"] == "v1.6.3 with helm.sh/helm/v4@v4.2.4"
    [why] = Built(tmp_path).substitutions()
    assert why.startswith("helm-controller v1.6.3: helm.sh/helm/v4@v4.2.4 in place of helm.sh")
    assert "refused by the Go proxy" in why


def _fake_build(controller: Controller, cache: Path, crd: str = "") -> None:
    exe = controller.binary(cache)
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    controller.crds(cache).mkdir(parents=True)
    if crd:
        (controller.crds(cache) / f"{controller.name}.yaml").write_text(crd)


def test_a_cached_build_is_reused_without_looking_for_the_source(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for c in fluxcontrollers.CONTROLLERS:
        _fake_build(c, cache, f"kind: CustomResourceDefinition\nmetadata: {{name: {c.name}}}\n")
    built = fluxcontrollers.ensure_built(tmp_path / "no-mirrors-here", cache)
    assert built.binary(HELM_CONTROLLER) == HELM_CONTROLLER.binary(cache)


def test_an_entry_without_its_crds_is_not_a_build(tmp_path: Path) -> None:
    _fake_build(HELM_CONTROLLER, tmp_path)  # a binary, an empty crds/ directory
    assert not fluxcontrollers.is_built(HELM_CONTROLLER, tmp_path)
    (HELM_CONTROLLER.crds(tmp_path) / "x.yaml").write_text("kind: CustomResourceDefinition\n")
    assert fluxcontrollers.is_built(HELM_CONTROLLER, tmp_path)


def test_a_missing_mirror_is_named_with_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(FluxSourceMissing) as err:
        fluxcontrollers.ensure_built(tmp_path / "mirrors", tmp_path / "cache")
    message = str(err.value)
    assert str(tmp_path / "mirrors" / "fluxcd+source-controller" / "repo") in message
    assert "--flux-src" in message
    assert not (tmp_path / "cache" / "flux-controllers" / "source-controller-v1.9.1").exists()


def test_a_mirror_without_the_tag_is_refused_by_name(tmp_path: Path) -> None:
    git_dir = SOURCE_CONTROLLER.mirror(tmp_path)
    subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True)
    with pytest.raises(FluxSourceMissing, match=r"has no tag v1\.9\.1"):
        fluxcontrollers.build(SOURCE_CONTROLLER, tmp_path, tmp_path / "cache")


def test_the_crds_of_both_tags_are_read_from_the_cache(tmp_path: Path) -> None:
    crd = "kind: CustomResourceDefinition\nmetadata: {{name: {}}}\n"
    _fake_build(SOURCE_CONTROLLER, tmp_path, "---\n" + crd.format("a"))  # a leading separator
    _fake_build(HELM_CONTROLLER, tmp_path, crd.format("b"))
    names = [crd["metadata"]["name"] for crd in Built(tmp_path).crds()]
    assert names == ["a", "b"]
    assert Built(tmp_path).versions()["source-controller"] == "v1.9.1"


def test_source_controller_advertises_the_loopback_address_it_binds() -> None:
    args = fluxcontrollers.source_controller_args(Path("/env/flux/storage"), Ports(1, 2, 3), 6)
    assert "--storage-addr=127.0.0.1:3" in args
    assert "--storage-adv-addr=127.0.0.1:3" in args
    assert "--storage-path=/env/flux/storage" in args
    assert "--metrics-addr=127.0.0.1:1" in args
    assert "--health-addr=127.0.0.1:2" in args
    assert "--concurrent=6" in args
    assert "--enable-leader-election=false" in args


def test_helm_controller_gets_its_own_ports_and_the_concurrency() -> None:
    args = fluxcontrollers.helm_controller_args(Ports(4, 5), 10)
    assert args == [
        "--metrics-addr=127.0.0.1:4",
        "--health-addr=127.0.0.1:5",
        "--concurrent=10",
        "--enable-leader-election=false",
    ]


def test_each_process_gets_distinct_free_ports_and_the_environments_storage(
    tmp_path: Path,
) -> None:
    flux = FluxControllers(Built(tmp_path), tmp_path / "flux", tmp_path, tmp_path / "kc", 4)
    args = flux.args()
    ports = [
        a.rsplit(":", 1)[1]
        for flags in args.values()
        for a in flags
        if a.startswith(("--metrics-addr", "--health-addr", "--storage-addr"))
    ]
    assert len(ports) == len(set(ports)) == 5
    assert f"--storage-path={tmp_path / 'flux' / 'storage'}" in args["source-controller"]
    assert set(flux.health) == {"source-controller", "helm-controller"}


@pytest.mark.parametrize(
    ("engine_args", "expected"),
    [
        ([], 4),
        (["--concurrency=10"], 10),
        (["--log-level=debug", "--concurrency", "6"], 6),
        (["--concurrency=2", "--concurrency=8"], 8),  # the last wins, as in the CLI
    ],
)
def test_flux_concurrency_follows_the_engines(engine_args: list[str], expected: int) -> None:
    assert fluxcontrollers.engine_concurrency(engine_args, default=4) == expected


def test_go_builds_static_with_modules_from_the_proxy() -> None:
    env = fluxcontrollers.go_env({"PATH": "/usr/bin", "GOFLAGS": "-tags=x"})
    assert env["CGO_ENABLED"] == "0"
    assert env["GOFLAGS"] == "-mod=mod -buildvcs=false"
    assert env["PATH"] == "/usr/bin"
