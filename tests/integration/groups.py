"""Tests that must run in one pytest process when the suite is spread over several.

pytest-xdist's `--dist loadgroup` sends the tests of one `xdist_group` mark to the same
worker by appending `@group` to their node ids, which pytest 9 no longer lets a plugin
change (xdist 3.8 sets `item._nodeid`; pytest 9 reads `item._id`): every test became a
group of its own and two workers each started `bare_cluster`. So the workers write the
groups they collected to a file of the run (`write`), and the controller schedules with
`Scheduling`, xdist's own scope scheduling keyed by that file: a group is handed to one
worker whole, every other test alone, in the order collected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

FILE = "xdist-groups.json"


def write(directory: Path, items: list[pytest.Item]) -> None:
    """node id → group of the collected items that have an `xdist_group` mark. Every
    worker collects the same items and writes the same file, each by a rename."""
    groups = {}
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is not None:
            groups[item.nodeid] = str(mark.args[0] if mark.args else mark.kwargs["name"])
    scratch = directory / f"{FILE}.{os.getpid()}"
    scratch.write_text(json.dumps(groups))
    scratch.replace(directory / FILE)


class Scheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """A scope per group of `FILE`, and one per test outside any group."""

    def __init__(self, config: pytest.Config, directory: Path, log: Producer | None = None):
        super().__init__(config, log)
        self.directory = directory
        self.groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        # First called when every worker has collected, so the file is there if any
        # worker collected an integration test (tests/integration/conftest.py writes it).
        if self.groups is None:
            path = self.directory / FILE
            self.groups = json.loads(path.read_text()) if path.exists() else {}
        return self.groups.get(nodeid, nodeid)


class Plugin:
    """Registered (tests/conftest.py) when xdist is: `--dist loadgroup` schedules by
    `FILE`."""

    @pytest.hookimpl(tryfirst=True)  # before xdist's own answer
    def pytest_xdist_make_scheduler(
        self, config: pytest.Config, log: Producer
    ) -> Scheduling | None:
        if config.getvalue("dist") != "loadgroup":
            return None
        # In the order collected (tests/integration/conftest.py sorts it: the groups, then
        # the long tests, longest first), not xdist's largest scope first.
        config.option.loadscopereorder = False
        base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
        return Scheduling(config, Path(base), log)
