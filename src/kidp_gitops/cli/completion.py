"""Shell completion of object names, as flux and kubectl complete them.

`kidp --install-completion` installs typer's completion script for the user's shell
(commands and flags). Arguments that name an object also complete from the cluster:
`kidp reconcile ks <TAB>` lists the Kustomizations of the namespace given so far on the
command line (`-n`), with the `--kubeconfig` and `--context` given so far; `kidp get
sources helm <TAB>` the HelmRepositories, `kidp reconcile source chart <TAB>` the
HelmCharts. A cluster that cannot be reached completes nothing, silently. The names
come from one LIST sent with the standard library (`session.list_names`), so a TAB
answers without loading the cluster client.
"""

from __future__ import annotations

import typer

from kidp_gitops.cli import session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views import kinds
from kidp_gitops.views.errors import ViewError

# The word after `source` (or `sources`) in a command, as flux spells them.
SOURCE_WORDS = {
    "git": kinds.GIT_REPOSITORY,
    "helm": kinds.HELM_REPOSITORY,
    "chart": kinds.HELM_CHART,
    "oci": kinds.OCI_REPOSITORY,
    "bucket": kinds.BUCKET,
}


def kind_of(command: str) -> kinds.Kind | None:
    """The kind a command works on, from its name: `ks`, `helmrelease`, `git`, `chart`…"""
    if command in SOURCE_WORDS:
        return SOURCE_WORDS[command]
    try:
        return kinds.lookup(command)
    except ViewError:
        return None


def object_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Names of the objects of the command's kind in the namespace given so far."""
    kind = kind_of(ctx.info_name or "")
    if kind is None:
        return []
    params = ctx.params
    target = session.Target(
        params.get("kubeconfig"),
        params.get("context"),
        params.get("namespace") or session.DEFAULT_NAMESPACE,
    )

    try:
        found = session.list_names(target, kind)
    except CliError:
        return []
    return [name for name in found if name.startswith(incomplete)]
