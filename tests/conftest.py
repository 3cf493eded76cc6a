"""For every run, whichever tests it collects."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Here, not in tests/integration/conftest.py: xdist's controller loads only the
    # conftest files above the paths it is given, and `pytest -n 2 --dist loadgroup`
    # without a path collects tests/.
    if config.pluginmanager.hasplugin("xdist"):
        from tests.integration import groups

        config.pluginmanager.register(groups.Plugin(), "kidp-xdist-groups")
