"""Subcommands that load on use, so that `kidp version`, `kidp --help` and TAB completion
start at once.

A `LazyGroup` names each subcommand by where it lives, `"module:attribute"` in
`kidp_gitops.cli`: a `typer.Typer` for a command group (`get:app`), a function for a
command (`check:check`, its docstring the help). Its table of commands, `Subcommands`,
knows every name from the start, so `--help`, completion and "Did you
mean 'get'?" see them all, but it imports a module, and lets typer build its click
commands (the costly part: typer reads every parameter of every function), only when a
name is looked up — `kidp get ks` builds `get` and nothing else.

The other half of the rule is in the command modules: they import the rest of
kidp_gitops (the cluster client, the API types, the controllers) inside the functions
that use it, never at their top (see `cli/__init__.py`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, ClassVar

import typer
import typer.core
import typer.main

# click's Command, which typer vendors privately: not named here.
Command = Any


def build(name: str, where: str) -> Command:
    """The click command typer builds for `where` ("module:attribute"), named `name`,
    exactly as `app.add_typer(x, name=name)` or `app.command(name)(x)` would."""
    module, _, attribute = where.partition(":")
    target = getattr(importlib.import_module(f"kidp_gitops.cli.{module}"), attribute)
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class Subcommands(MutableMapping[str, Command]):
    """A group's commands: those built already, and those named by where they live,
    built on first lookup. Iterates in the order given: the lazy ones, then the rest."""

    def __init__(self, built: Mapping[str, Command], lazy: Mapping[str, str]):
        self._lazy = dict(lazy)
        self._built: dict[str, Command] = {}
        self._order = [*self._lazy, *(name for name in built if name not in self._lazy)]
        self._built.update(built)

    def __getitem__(self, name: str) -> Command:
        if name not in self._built and name in self._lazy:
            self._built[name] = build(name, self._lazy[name])
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._order:
            self._order.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._lazy.pop(name, None)
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


class LazyGroup(typer.core.TyperGroup):
    """A typer group whose `subcommands` (name → "module:attribute") load on use, listed
    before the commands registered on its Typer."""

    subcommands: ClassVar[Mapping[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = Subcommands(self.commands, self.subcommands)
