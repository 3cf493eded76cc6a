"""Options shared by the commands that talk to a cluster (kubectl's names)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperOption

Kubeconfig = Annotated[
    str | None,
    typer.Option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig file."),
]
Context = Annotated[str | None, typer.Option("--context", help="The kubeconfig context.")]
Namespace = Annotated[
    str, typer.Option("--namespace", "-n", help="The namespace of the GitOps objects.")
]

Image = Annotated[
    str | None,
    typer.Option(
        "--image",
        help="The controller image: where you pushed what `make image` built "
        "(default: ghcr.io/kidp-gitops/kidp-gitops:v<version>, the name it builds).",
    ),
]


class GoFlags(TyperCommand):
    """A command whose switches also take Go's `--flag=true|false` form, as Flux's
    controllers do (multi-tenant repositories patch `--no-cross-namespace-refs=true`
    into their Deployments): `=true` is the switch, `=false` its off form."""

    # ctx is click's Context, which typer vendors privately: not named here.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        plain = [self._plain(arg) for arg in args]
        return super().parse_args(ctx, [a for a in plain if a is not None])

    def _plain(self, arg: str) -> str | None:
        name, eq, value = arg.partition("=")
        if not eq or not name.startswith("--"):
            return arg
        for param in self.params:
            if not isinstance(param, TyperOption) or not param.is_flag or param.count:
                continue
            if name not in param.opts and name not in param.secondary_opts:
                continue
            on = {"true": True, "1": True, "false": False, "0": False}.get(value.lower())
            if on is None:
                raise typer.BadParameter(f"'{value}' is not true or false", param_hint=name)
            if name in param.secondary_opts:
                on = not on
            if on:
                return param.opts[0]
            if param.secondary_opts:
                return param.secondary_opts[0]
            return None  # a switch without an off form is off unless given
        return arg
