"""`python -m kidp_gitops` is `kidp`: how `kidp up` starts its background processes with
the same interpreter, whatever the PATH."""

from kidp_gitops.cli.main import run

run()
