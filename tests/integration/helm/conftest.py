"""The `kidp` CLI fixture of tests/integration/cli, for the HelmRelease commands."""

from tests.integration.cli.conftest import kidp

__all__ = ["kidp"]
