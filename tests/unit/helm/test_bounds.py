"""What a helper serving one release alone says when it ends before it answers: the
release's failure, by the bound it passed."""

from __future__ import annotations

import signal

from kidp_gitops.helm import bounds

INSTALL = {"argv": ["install", "web", "/c"], "renderTimeout": 12.5}


def test_each_end_names_the_bound_it_passed() -> None:
    assert bounds.verdict(3, b"", INSTALL) == (
        "the chart's templates exhausted the memory bound of the helm helper (1024 MiB)"
    )
    # Go's own end for want of memory says the same.
    said = b"fatal error: runtime: out of memory\n"
    assert "exhausted the memory bound" in bounds.verdict(2, said, INSTALL)
    assert "exhausted the memory bound" in bounds.verdict(2, b"goroutine stack exceeds", INSTALL)
    assert bounds.verdict(4, b"", INSTALL) == (
        "rendering the chart's templates timed out after 12.5s"
    )
    assert bounds.verdict(-signal.SIGXCPU, b"", INSTALL) == (
        "helm install exceeded its CPU time bound (132s)"
    )
    assert "crashed" in bounds.verdict(2, b"panic: oops", INSTALL)
    assert "exit code 1" in bounds.verdict(1, b"", INSTALL)


def test_the_bounds_scale_with_the_action() -> None:
    assert bounds.render(300) == 75
    assert bounds.render(5) == bounds.RENDER_MIN
    assert bounds.memory(alone=False) == 2 * bounds.memory(alone=True)
    assert bounds.cpu_seconds({"argv": ["rollback"]}) == bounds.ALONE_CPU
