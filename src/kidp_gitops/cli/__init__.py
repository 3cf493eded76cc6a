"""The `kidp` command: a thin face over the library, one module per command group.

`kidp` starts at once (issue 13). `main` names each subcommand by its module, loaded when
the command line names it (`lazy`); and every module here imports, at its top, only the
standard library, typer, rich, PyYAML and the other modules of this package. What a
command needs from the rest of kidp_gitops — the cluster client (`kube`), the API types
(`api`, pydantic), the controllers — it imports inside the function that uses it, so
that `kidp version`, `--help` and TAB completion never load it (annotations name such
types under `TYPE_CHECKING`). `tests/unit/cli/test_startup.py` holds the rule;
`python -m bench --only cli` measures the start.
"""
