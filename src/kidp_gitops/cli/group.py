"""The one place where `kidp` prints an error and picks the exit code.

`KidpGroup` is the class of the top-level command group (whose subcommands load on use:
`cli/lazy.py`). It runs the command tree in click's non-standalone mode and turns
whatever escapes into one line on stderr and an exit code:

    CliError             its message, its exit code (1 unless the command chose one)
    ViewError            its message, exit 1 (the read-model's: an unknown kind, a
                         reference that is not one)
    KubeError            one line from `session.describe` (no kubeconfig, unreachable
                         server, forbidden, …), exit 1
    DevClusterError      its message, exit 1
    bad flags/arguments  "✗ <what is wrong> (see 'kidp … --help')", exit 2
    typer.Exit(n)        exit n, nothing printed (`diff` exits 1 when it found changes)
    Ctrl-C               exit 130, nothing printed (at a prompt, a newline to end the
                         prompt's line), wherever it lands: a command, a watch, a prompt
    end of input         at a prompt: "✗ aborted", exit 1

One command ends on Ctrl-C by design: `kidp events --watch` streams until interrupted
and exits 0, as `flux events --watch` does (`get --watch` stops with 130, as `kubectl
get --watch` does).

Because the printing happens inside the group's `main`, the test runner sees exactly
what a user sees: the line and the code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from kidp_gitops.cli import lazy
from kidp_gitops.cli.errors import CliError
from kidp_gitops.views.errors import ViewError

USAGE_EXIT = 2
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report it


class KidpGroup(lazy.LazyGroup):
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
        except ViewError as err:
            _fail(str(err), 1)
        except typer.Abort as err:
            _aborted(err)
        except KeyboardInterrupt:  # outside click's handling (shell completion)
            sys.exit(INTERRUPTED_EXIT)
        except typer.TyperException as err:  # the parser's: unknown flag, missing argument
            _usage(err)
        except Exception as err:
            line = _library_failure(err)
            if line is None:
                raise  # a bug: the traceback
            _fail(line, 1)
        sys.exit(code if isinstance(code, int) else 0)


def _library_failure(err: Exception) -> str | None:
    """The line for a failure of the cluster client or the dev cluster; None for any
    other exception. Imported here, on the way out, so that a command that never
    touches them does not load them to be ready to catch their errors."""
    from kidp_gitops.cli import session
    from kidp_gitops.devcluster import DevClusterError
    from kidp_gitops.kube import KubeError

    if isinstance(err, KubeError):
        return session.describe(err)
    if isinstance(err, DevClusterError):
        return str(err)
    return None


def _aborted(err: typer.Abort) -> NoReturn:
    """click turns Ctrl-C and end of input into Abort, keeping the KeyboardInterrupt or
    EOFError as its context: at a prompt always (`raise … from None`), in a command with
    the click that older typer releases run on (newer ones exit 130 themselves)."""
    from kidp_gitops.cli import output

    cause = err.__context__
    if err.__cause__ is None and isinstance(cause, (KeyboardInterrupt, EOFError)):
        output.stderr().print()  # the prompt left the cursor on its line
    if isinstance(cause, KeyboardInterrupt):
        sys.exit(INTERRUPTED_EXIT)
    _fail("aborted", 1)


def _fail(message: str, code: int) -> NoReturn:
    from kidp_gitops.cli import output

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
    from kidp_gitops.cli import output

    message = err.format_message().strip().rstrip(".").replace("Value error, ", "")
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    output.failure(f"{message}{hint}")
    sys.exit(getattr(err, "exit_code", USAGE_EXIT))
