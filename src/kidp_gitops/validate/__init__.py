"""Offline checks for pre-commit hooks and pull requests (`kidp validate`).

No cluster and no network: YAML syntax, Flux objects against kidp's types, the builds
of the repository's Kustomizations (with the controller's build code), Kubernetes'
schemas for the built objects, plaintext Secrets and sops files. `validate` returns a
`Report` of `Finding`s; the CLI prints it and picks the exit code.
"""

from kidp_gitops.validate.findings import Finding, Report
from kidp_gitops.validate.run import DEFAULT_KUBERNETES_VERSION, Options, validate
from kidp_gitops.validate.schemas import UnsupportedVersion, available_versions
from kidp_gitops.validate.secrets import ALLOW_ANNOTATION

__all__ = [
    "ALLOW_ANNOTATION",
    "DEFAULT_KUBERNETES_VERSION",
    "Finding",
    "Options",
    "Report",
    "UnsupportedVersion",
    "available_versions",
    "validate",
]
