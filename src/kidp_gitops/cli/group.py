"""The one place where `kidp` prints an error and picks the exit code.

`KidpGroup` is the class of the top-level command group. It runs the command tree in
click's non-standalone mode and turns whatever escapes into one line on stderr and an
exit code:

    CliError             its message, its exit code (1 unless the command chose one)
    KubeError            one line from `session.describe` (no kubeconfig, unreachable
                         server, forbidden, …), exit 1
    DevClusterError      its message, exit 1
    bad flags/arguments  "✗ <what is wrong> (see 'kidp … --help')", exit 2
    typer.Exit(n)        exit n, nothing printed (`diff` exits 1 when it found changes)
    Ctrl-C               exit 130

Because the printing happens inside the group's `main`, the test runner sees exactly
what a user sees: the line and the code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
import typer.core

from kidp_gitops.cli import output, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.devcluster import DevClusterError
from kidp_gitops.kube import KubeError

USAGE_EXIT = 2


class KidpGroup(typer.core.TyperGroup):
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except CliError as err:
            _fail(str(err), err.exit_code)
        except KubeError as err:
            _fail(session.describe(err), 1)
        except DevClusterError as err:
            _fail(str(err), 1)
        except typer.Abort:
            _fail("aborted", 1)
        except KeyboardInterrupt:
            sys.exit(130)
        except typer.TyperException as err:  # the parser's: unknown flag, missing argument
            _usage(err)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> NoReturn:
    lines = message.strip().splitlines() or ["failed"]
    output.failure(lines[0])
    for extra in lines[1:]:  # a dev-cluster log tail: context below the one line
        output.stderr().print(extra, markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def _usage(err: typer.TyperException) -> NoReturn:
    ctx = getattr(err, "ctx", None)
    if type(err).__name__ == "NoArgsIsHelpError":
        # The help text was the message (or was printed already, with rich).
        if err.format_message().strip():
            typer.echo(err.format_message(), err=True)
        sys.exit(USAGE_EXIT)
    message = err.format_message().strip().rstrip(".").replace("Value error, ", "")
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    output.failure(f"{message}{hint}")
    sys.exit(getattr(err, "exit_code", USAGE_EXIT))
