"""What every fuzz test shares: the per-example bounds and the checked-in corpus.

    @bounded                 each example runs under a hard wall-clock limit (SIGALRM),
                             (hypothesis' own `deadline` is off: it only reports a slow
                             example once it has finished); a catastrophic one (exponential
                             regex backtracking, an alias bomb) fails at the limit instead
                             of hanging the suite
    memory_limit             (conftest, autouse) the address space of the test process is
                             capped at its size plus MEMORY_HEADROOM for each fuzz test, so
                             a parser that tries to allocate gigabytes raises MemoryError
                             (a failure) instead of pushing the machine into swap
    corpus(name)             the files of corpus/<name>/, replayed on every run
    examples(n)              n, times KIDP_FUZZ_SCALE (default 1): run
                             `KIDP_FUZZ_SCALE=50 pytest tests/unit/fuzz` to fuzz for longer

Only the main thread may take SIGALRM, which is where pytest runs tests.
"""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, ParamSpec, TypeVar

import pytest
from hypothesis import HealthCheck, settings

EXAMPLE_SECONDS = 5.0
"""Hard limit for one example; a correct parser needs milliseconds."""

MEMORY_HEADROOM = 1 << 30
"""Address space a fuzz test may take beyond what the process held when it started."""

CORPUS = Path(__file__).parent / "corpus"

# No stopwatch: hypothesis' `deadline` and its too-slow health checks fail a test that is
# merely slow on a busy machine (they did, on the 2 shared cores); a catastrophic example
# still fails at `bounded`'s hard limit, and the suite's time is measured in bench/.
_UNTIMED: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("untimed", **_UNTIMED)
# In CI the examples are the same on every run (a failure there is reproducible from the
# log alone); elsewhere each run draws new ones, so running the suite keeps fuzzing.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_UNTIMED)
settings.load_profile("ci" if os.environ.get("CI") else "untimed")

P = ParamSpec("P")
R = TypeVar("R")


def examples(count: int) -> int:
    """A test's example budget, scaled by KIDP_FUZZ_SCALE."""
    return count * int(os.environ.get("KIDP_FUZZ_SCALE", "1"))


class ExampleTimeout(Exception):
    """One example ran past EXAMPLE_SECONDS."""


def _expire(signum: int, frame: FrameType | None) -> None:
    raise ExampleTimeout(f"the example ran past {EXAMPLE_SECONDS} s")


def bounded(test: Callable[P, R]) -> Callable[P, R]:
    """Run each call of `test` (each example, under @given) with a hard time limit."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        previous = signal.signal(signal.SIGALRM, _expire)
        signal.setitimer(signal.ITIMER_REAL, EXAMPLE_SECONDS)
        try:
            return test(*args, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return run


def corpus(name: str) -> list[Any]:
    """pytest params for every file of corpus/<name>/, each with its file name as id."""
    files = sorted((CORPUS / name).iterdir())
    assert files, f"corpus/{name} is empty"
    return [pytest.param(path, id=path.name) for path in files]
