"""The process that evaluates CEL for the engine: `python -m kidp_gitops.cel.worker`.

It says `ready` on stdout once loaded, then answers one request per line on stdin, one
answer per line on stdout, JSON:

    {"text": "...", "env": "health", "data": {...}}
    → {"value": ...} | {"error": "...", "invalid": true|false}

Why a process: the library holds the GIL while it evaluates and allocates without a
bound, so an expression written to be costly (a comprehension over a large list that
concatenates large strings) would stall every controller on the event loop and could
exhaust the engine's memory. Here the address space is capped (`MEMORY`) and the
engine kills the process past its deadline (`evaluator`); compiled programs are cached
by text, as in the engine.
"""

from __future__ import annotations

import resource
import sys
from typing import Any

import orjson

from kidp_gitops.cel import expression

READY = b"ready\n"
"""The first line: loading the interpreter and the library is not the evaluation's time."""
MEMORY = 1 << 30
"""The worker's address space, in bytes: the interpreter, the library and the largest
object the API server stores (about 1.5 MiB of JSON) fit many times over."""


def answer(request: dict[str, Any]) -> dict[str, Any]:
    env = expression.ENVIRONMENTS[request["env"]]
    try:
        return {"value": expression.evaluate(request["text"], env, request["data"])}
    except expression.InvalidExpression as err:
        return {"error": str(err), "invalid": True}
    except expression.EvaluationFailed as err:
        return {"error": str(err), "invalid": False}


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    out = sys.stdout.buffer
    out.write(READY)
    out.flush()
    for line in sys.stdin.buffer:
        try:
            reply = answer(orjson.loads(line))
            encoded = orjson.dumps(reply)
        except (ValueError, KeyError, TypeError) as err:  # a malformed request, a value
            encoded = orjson.dumps({"error": f"bad request: {err}", "invalid": False})
        out.write(encoded + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
