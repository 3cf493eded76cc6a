"""How `kidp` prints: tables and data on stdout, progress on stderr, as flux does.

    stdout  tables (`get`, `events`, `stats`), YAML/JSON (`-o`, `export`, `build`)
    stderr  progress lines: ► doing, ✔ done, ◎ waiting, ⚠ warning (and ✗ errors,
            printed only by `cli/group.py`)

Colours and spinners appear only on a terminal (and never with NO_COLOR); piped
output is plain text with one line per row, never wrapped, so `grep` and `awk` work.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

# rich and yaml load when something is printed: every command module imports this one,
# and a TAB completion or `--help` that prints no table should not pay ~35 ms for them.
if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

_NOT_A_TERMINAL_WIDTH = 100_000


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


OutputFormat = Annotated[
    Format, typer.Option("--output", "-o", help="table, or json / yaml for scripts.")
]


def stdout() -> Console:
    """A console on the current stdout (made per call: test runners swap the stream)."""
    return _console(sys.stdout)


def stderr() -> Console:
    return _console(sys.stderr)


def _console(stream: Any) -> Console:
    from rich.console import Console

    terminal = bool(getattr(stream, "isatty", lambda: False)())
    width = None if terminal else _NOT_A_TERMINAL_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=not terminal)


def step(message: str) -> None:
    _line("► ", "blue", message)


def success(message: str) -> None:
    _line("✔ ", "green", message)


def waiting(message: str) -> None:
    _line("◎ ", "yellow", message)


def warning(message: str) -> None:
    _line("⚠ ", "yellow", message)


def failure(message: str) -> None:
    _line("✗ ", "red", message)


def _line(mark: str, style: str, message: str) -> None:
    from rich.text import Text

    stderr().print(Text.assemble((mark, style), message), soft_wrap=True)


@contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner on a terminal; nothing otherwise."""
    console = stderr()
    if not console.is_terminal:
        yield
        return
    with console.status(message):
        yield


def table(
    columns: Sequence[str], rows: Sequence[Sequence[str | Text]], *, header: bool = True
) -> Table:
    """A borderless table like kubectl's and flux's."""
    from rich.table import Table

    out = Table(
        box=None,
        show_header=header,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        padding=(0, 3, 0, 0),
    )
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*row)
    return out


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[str | Text]], *, header: bool = True
) -> None:
    console = stdout()
    if console.is_terminal:
        console.print(table(columns, rows, header=header))
        return
    with console.capture() as captured:  # plain text: no padding after the last column
        console.print(table(columns, rows, header=header))
    lines = captured.get().splitlines()
    echo("".join(line.rstrip() + "\n" for line in lines))


def dump(data: Any, fmt: Format) -> str:
    """JSON (indented) or YAML text of plain data."""
    import yaml

    if fmt is Format.json:
        return json.dumps(data, indent=2, default=str) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def dump_documents(objects: Sequence[Any]) -> str:
    """Objects as a YAML stream, each document opened by `---` as flux exports them."""
    import yaml

    return "".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects)


def echo(text: str) -> None:
    typer.echo(text, nl=False)


def status_text(value: str) -> Text:
    """A condition status, coloured: True green, False red, anything else yellow."""
    from rich.text import Text

    style = {"True": "green", "False": "red"}.get(value, "yellow")
    return Text(value, style=style)
