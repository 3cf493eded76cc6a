"""What a helper serving one release alone says when it ends before it answers: the
release's failure, by the bound it passed."""

from __future__ import annotations

from kidp_gitops.helm import bounds
from kidp_gitops.proc import sandbox

INSTALL = {"argv": ["install", "web", "/c"], "renderTimeout": 12.5}


def test_each_end_names_the_bound_it_passed() -> None:
    assert bounds.verdict(3, b"", INSTALL) == (
        "the chart's templates exhausted the memory bound of the helm helper (2048 MiB)"
    )
    # Go's own end for want of memory says the same.
    said = b"fatal error: runtime: out of memory\n"
    assert "exhausted the memory bound" in bounds.verdict(2, said, INSTALL)
    assert "exhausted the memory bound" in bounds.verdict(2, b"goroutine stack exceeds", INSTALL)
    # Alone, a render's bound is CPU time (a loaded machine does not convict a chart).
    assert bounds.verdict(4, b"", INSTALL) == (
        "rendering the chart's templates took more than 12.5s of CPU time"
    )
    assert bounds.ALONE_RENDER_CLOCK == {"KIDP_HELM_SERVER_RENDER_CLOCK": "cpu"}
    assert bounds.verdict(5, b"", INSTALL) == ("helm install exceeded its CPU time bound (180s)")


def test_only_the_helpers_own_bounds_convict_a_release() -> None:
    for code in (3, 4, 5):
        assert bounds.convicts(code, b"")
    assert bounds.convicts(2, b"fatal error: runtime: out of memory\n")
    # A kill from outside (the OOM killer's too), the helper's own crash, a clean exit.
    ends: list[tuple[int | None, bytes]] = [(-9, b""), (2, b"panic: oops"), (1, b""), (None, b"")]
    for end, said in ends:
        assert not bounds.convicts(end, said)


def test_the_helper_names_the_request_past_its_render_bound() -> None:
    said = b"kidp-helm-server: request 17 rendered its chart's templates for longer than 10s\n"
    assert bounds.overran(b"noise\n" + said) == 17
    assert bounds.overran(b"kidp-helm-server: memory bound exceeded") is None


def test_the_bounds_scale_with_the_action_within_the_operators_caps() -> None:
    assert bounds.render(200) == 50
    assert bounds.render(5) == bounds.RENDER_MIN
    # A tenant's long spec.timeout does not buy a long render, nor more CPU alone.
    assert bounds.render(24 * 3600) == bounds.RENDER_MAX == 60
    assert bounds.render(24 * 3600, render_max=30) == 30
    previous = sandbox.configure(sandbox.Limits(render=20))
    try:
        assert bounds.render(24 * 3600) == 20  # the operator's flag
    finally:
        sandbox.configure(previous)
    # The operator's cap is the last word, even under the floor a tenant gets.
    assert bounds.render(300, render_max=3) == 3
    assert bounds.render(5, render_max=3) == 3
    assert bounds.cpu_seconds() == bounds.ALONE_CPU
    # Alone, as much memory as one request may use in the shared helper.
    assert bounds.memory(alone=True) == bounds.memory(alone=False)


def _dump(first: str) -> list[bytes]:
    """What Go prints when its runtime ends a process: the reason, then every
    goroutine's stack (the tail of standard error holds only frames)."""
    frames = "".join(
        f"goroutine {i} [select]:\nk8s.io/client-go/tools/cache.(*Reflector).watch(0xc000{i:04x})\n"
        "\t/go/pkg/mod/k8s.io/client-go/tools/cache/reflector.go:442 +0x1a5\n\n"
        for i in range(200)
    )
    said = f"{first}\n\ngoroutine 1 [running]:\nmain.main()\n\n{frames}"
    return [line.encode() for line in said.splitlines() if bounds.headline(line.encode())]


def test_a_go_crash_is_logged_by_its_reason_never_a_panics_value() -> None:
    assert bounds.crash(_dump("fatal error: concurrent map writes")) == (
        "fatal error: concurrent map writes"
    )
    said = "panic: runtime error: index out of range [5] with length 3 [recovered]"
    assert bounds.crash(_dump(said)) == said
    # A value the program panicked with may hold what a request carried.
    hidden = bounds.crash(_dump("panic: token=s3cr3t-value"))
    assert hidden == "panic: (its value is not logged)"
    assert bounds.crash(_dump("SIGQUIT: quit")) == "SIGQUIT: quit"
    assert len(bounds.crash([b"fatal error: " + b"x" * 5000]) or "") == bounds.HEADLINE_BYTES
    assert bounds.crash([b"goroutine 1 [running]:"]) is None
    # Go's out-of-memory end convicts by its headline, whatever follows it.
    words = b"".join(h + b"\n" for h in _dump("fatal error: runtime: out of memory"))
    assert bounds.convicts(2, words + b"\t/go/src/runtime/proc.go:283 +0x29\n")
