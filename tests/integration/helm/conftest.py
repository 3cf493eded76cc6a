"""The `kidp` CLI fixture of tests/integration/cli, for the HelmRelease commands, and
`helm_runs`, the helm processes the engine starts."""

from tests.integration.cli.conftest import kidp
from tests.integration.helm.helpers import helm_runs

__all__ = ["helm_runs", "kidp"]
