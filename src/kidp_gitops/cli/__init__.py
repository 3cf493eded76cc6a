"""The `kidp` command: a thin face over the library, one module per command group."""
