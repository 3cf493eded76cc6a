"""A build is bounded: memory of its processes, time, and the size of each file it reads.
The real kustomize, real alias bombs; the limits are set low so no test can endanger the
machine."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kidp_gitops.proc import sandbox
from kidp_gitops.render import build, errors, reading, runner
from kidp_gitops.render.build import Overlay
from tests.unit.render.layout import bomb, names, write


@pytest.fixture
def limits() -> Iterator[None]:
    previous = sandbox.configure(
        sandbox.Limits(memory=256 * sandbox.MiB, file_size=64 * 1024, output=2 * sandbox.MiB)
    )
    yield
    sandbox.configure(previous)


def test_an_alias_bomb_stops_at_the_memory_limit(tmp_path: Path, limits: None) -> None:
    write(tmp_path, "kustomization.yaml", "namePrefix: p-\nresources: [bomb.yaml]\n")
    write(tmp_path, "bomb.yaml", bomb())
    began = time.monotonic()
    with pytest.raises(errors.BuildError, match="more than 256 MiB of memory and was stopped"):
        runner.run(tmp_path, timeout=60, replacements={}, readable=[tmp_path], network=False)
    assert time.monotonic() - began < 30  # stopped by the guard, not by the deadline


def test_a_result_over_the_output_limit_is_refused(tmp_path: Path, limits: None) -> None:
    """One small file named many times: kustomize's own memory stays low, its result
    does not; the engine never reads more than the output limit."""
    keys = "\n".join(f"  - k{i}=data.txt" for i in range(60))
    write(tmp_path, "kustomization.yaml", f"configMapGenerator:\n- name: big\n  files:\n{keys}\n")
    write(tmp_path, "data.txt", "x" * 60_000)
    with pytest.raises(errors.BuildError, match="wrote more than 2 MiB of objects"):
        runner.run(tmp_path, timeout=60, replacements={}, readable=[tmp_path], network=False)


def test_the_same_build_without_the_bomb_works_under_the_limits(
    tmp_path: Path, limits: None
) -> None:
    write(tmp_path, "kustomization.yaml", "namePrefix: p-\nresources: [cm.yaml]\n")
    write(tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n")
    output = runner.run(tmp_path, timeout=60, replacements={}, readable=[tmp_path], network=False)
    assert "name: p-cm" in output


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def test_a_build_that_hangs_is_killed_at_its_deadline(tmp_path: Path, silent_server: int) -> None:
    write(
        tmp_path,
        "kustomization.yaml",
        f"resources: ['http://127.0.0.1:{silent_server}/never.yaml']\n",
    )
    began = time.monotonic()
    with pytest.raises(errors.KustomizeTimeout, match="did not finish in 2s"):
        runner.run(tmp_path, timeout=2, replacements={}, readable=[tmp_path], network=True)
    assert time.monotonic() - began < 10


@pytest.mark.parametrize(
    ("files", "path", "shown"),
    [
        # read by kustomize (a kustomization with a prefix)
        (
            {"apps/kustomization.yaml": "namePrefix: p-\nresources: [big.yaml]\n"},
            "apps",
            "apps/big.yaml",
        ),
        # read in process (a directory of plain manifests)
        ({}, "apps", "apps/big.yaml"),
    ],
)
def test_a_file_over_the_limit_fails_the_build_naming_it(
    repo: Path, limits: None, files: dict[str, str], path: str, shown: str
) -> None:
    for rel, text in files.items():
        write(repo, rel, text)
    big = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n"
    big += "".join(f"  k{i}: {'x' * 100}\n" for i in range(1000))
    write(repo, "apps/big.yaml", big)
    with pytest.raises(errors.FileTooLarge) as caught:
        build.build(repo, path, Overlay(), allow_remote_bases=False)
    assert str(caught.value).startswith(f"{shown} is 0.1 MiB, over the 0.0625 MiB limit")


def test_files_under_the_limit_build(repo: Path, limits: None) -> None:
    write(repo, "apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: small}\n")
    assert names(build.build(repo, "apps", Overlay(), allow_remote_bases=False)) == [
        "ConfigMap/small"
    ]


def test_a_file_that_grows_while_read_is_read_whole_and_still_cut_off(
    tmp_path: Path, limits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read asks for the size the file had; one that grew since (its size is stale
    here) is read on to its end, and past the limit it is refused all the same."""
    grown, huge = tmp_path / "grown.yaml", tmp_path / "huge.yaml"
    grown.write_bytes(b"a: " + b"x" * 1000 + b"\n")
    huge.write_bytes(b"x" * (128 * 1024))
    real_fstat = os.fstat

    def stale(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((*st[:6], 10, *st[7:]))  # st_size: 10 bytes, as at first

    monkeypatch.setattr(os, "fstat", stale)
    assert reading.read(grown, "grown.yaml") == grown.read_bytes()
    with pytest.raises(errors.FileTooLarge, match=r"^huge.yaml is 0.1 MiB"):
        reading.read(huge, "huge.yaml")
