"""A tree handed to `discard` is deleted in a worker thread, without the caller waiting."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from kidp_gitops.proc import background


async def test_discard_deletes_off_the_loop_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "file").write_text("x")
    threads: list[int] = []
    real = shutil.rmtree

    def spy(path: str, ignore_errors: bool = False) -> None:
        threads.append(threading.get_ident())
        real(path, ignore_errors)

    monkeypatch.setattr(shutil, "rmtree", spy)
    background.discard(tree)
    background.discard(tmp_path / "never-there")  # errors are ignored
    await background.settle()
    assert not tree.exists()
    assert threads
    assert threading.get_ident() not in threads
