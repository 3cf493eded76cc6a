"""Compiling CEL expressions in the environments Flux's controllers declare.

Flux builds every expression with the same library options (fluxcd/pkg runtime/cel):
the standard functions plus the strings, encoders and optional-types extensions, and
the variables of the field as `google.protobuf.Struct` (here: dyn). Each field declares
its own variables and result type, and an expression that does not type-check in its
environment is refused before anything is evaluated, as Flux refuses it (Stalled,
`InvalidCELExpression`):

    check(text, env)        raise InvalidExpression, or return; cached by (text, env)
    evaluate(text, env, data) -> bool | str | Any      in this process: the worker's

Health check expressions are the exception Flux makes: they read the object's own
top-level fields (`status.conditions…`), which differ between custom resources, so they
are only parsed, and their names are resolved when evaluated.

The library is cel-expr-python: Python bindings of the reference C++ implementation
(cel-cpp), the one of the three on PyPI that has the extensions Flux enables
(`'a,b'.split(',')`, `self.?status.orValue(…)`), compares numbers across types as
cel-go is set up to, checks types with declared variables, and stops a comprehension
past an iteration budget. It holds the GIL while it evaluates and its memory is not
bounded, which is why evaluation happens in `worker` (see `evaluator`). It is loaded on
the first expression compiled (`_cel`), not on import: its shared libraries are 12 MiB of
every engine process's memory, and most clusters set no CEL field at all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

MAX_LENGTH = 4096
"""Longest expression accepted, in characters. Compiling runs on the event loop (once per
text): at this length it takes 20 ms at worst, measured (the parser also stops past
32 levels of nesting); Flux's documented expressions are one line."""
MAX_ERROR = 512
"""Longest error message kept from the library (it quotes the expression)."""


@dataclass(frozen=True)
class Environment:
    """What an expression of one field may refer to and must return."""

    name: str
    variables: tuple[str, ...] | None
    """The declared variables; None: none declared, the top-level fields of the data
    are the names (health checks), and the expression is only parsed."""
    result: Literal["bool", "string"] | None = None
    """The type the expression must have (checked when compiled)."""


HEALTH = Environment("health", None)
"""`healthCheckExprs`: the object's top-level fields (apiVersion, kind, metadata, spec,
status, …)."""
READY = Environment("ready", ("self", "dep"), "bool")
"""`dependsOn[].readyExpr`: the object being reconciled and its dependency."""
RESOURCE_FILTER = Environment("resourceFilter", ("res", "req"), "bool")
"""A Receiver's `resourceFilter`: the metadata of each resource it would reconcile and
the webhook's JSON body."""
COMMIT_STATUS = Environment("commitStatus", ("event", "alert", "provider"), "string")
"""A Provider's `commitStatusExpr`: the event, the Alert and the Provider; the name of
the commit status it sets."""
ENVIRONMENTS = {e.name: e for e in (HEALTH, READY, RESOURCE_FILTER, COMMIT_STATUS)}


@functools.cache
def _cel() -> Any:
    """The library, loaded on first use (the module docstring says why)."""
    from cel_expr_python import cel

    return cel


class InvalidExpression(ValueError):
    """The expression does not parse, or does not type-check in its environment."""


class EvaluationFailed(RuntimeError):
    """The expression could not be evaluated on this data (a missing field, a type it
    cannot work with, the iteration budget spent, the worker's time or memory)."""


@functools.cache
def _environment(env: Environment) -> Any:
    from cel_expr_python.ext import ext_encoders, ext_optional, ext_strings

    cel = _cel()
    variables = {name: cel.Type.DYN for name in env.variables or ()}
    extensions = [ext_strings.ExtStrings(), ext_encoders.ExtEncoders(), ext_optional.ExtOptional()]
    return cel.NewEnv(variables=variables, extensions=extensions)


@functools.lru_cache(maxsize=1024)
def _compiled(text: str, env: Environment) -> Any:
    if not text.strip():
        raise InvalidExpression("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise InvalidExpression(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        program = _environment(env).compile(text, disable_check=env.variables is None)
    except RuntimeError as err:
        raise InvalidExpression(_clip(str(err).removeprefix("INVALID_ARGUMENT: "))) from None
    types = {"bool": _cel().Type.BOOL, "string": _cel().Type.STRING}
    if env.result is not None and program.return_type() != types[env.result]:
        raise InvalidExpression(
            f"the expression must return a {env.result}, not {program.return_type().name()}"
        )
    return program


def check(text: str, env: Environment) -> None:
    """Raise InvalidExpression when `text` is not a valid expression of `env`."""
    _compiled(text, env)


def evaluate(text: str, env: Environment, data: dict[str, Any]) -> Any:
    """The value of `text` over `data` (the variables), in this process. Only the
    worker calls this: it blocks, and is bounded only by the iteration budget."""
    program = _compiled(text, env)
    try:
        value = program.eval(data=data)
    except RuntimeError as err:  # the iteration budget, a value it cannot convert
        raise EvaluationFailed(_clip(str(err))) from None
    if value.type() == _cel().Type.ERROR:
        raise EvaluationFailed(_clip(str(value.value())))
    result = value.plain_value()
    if env.result == "bool" and not isinstance(result, bool):
        raise EvaluationFailed("the expression did not return a bool")
    return result


def _clip(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MAX_ERROR else message[: MAX_ERROR - 1] + "…"
