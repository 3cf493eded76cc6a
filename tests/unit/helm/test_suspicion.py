"""What the engine keeps of the releases it suspects of ending the shared Helm helper: a
document the next process (after a restart, or a new leader) reads back to the same
verdicts, bounded whatever the names, and read as untrusted."""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import pytest

from kidp_gitops.helm import suspicion, suspicionstore
from kidp_gitops.helm.suspicion import Suspicion
from kidp_gitops.helm.suspicionstore import SuspicionStore
from kidp_gitops.kube.ssa import ResourceManager


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _next_process(before: Suspicion, clock: _Clock) -> Suspicion:
    after = Suspicion(clock)
    after.restore(before.document())
    return after


def test_the_next_process_reaches_the_same_verdicts() -> None:
    clock = _Clock()
    first = Suspicion(clock)
    first.suspect({"a/web", "b/db", "c/new"})
    first.acquit("b/db")  # answered alone once: innocent
    first.confine("c/guilty")
    assert first.changes == 5

    then = _next_process(first, clock)
    assert then.runs_alone("a/web")  # until it answers alone
    assert not then.runs_alone("b/db")
    assert then.runs_alone("c/other")  # its namespace confined
    assert then.changes == 0  # read, not changed: nothing to write back
    clock.now += suspicion.BACKOFF + 1
    assert then.runs_alone("a/web")
    assert not then.runs_alone("c/other")


def test_strikes_outlive_the_process() -> None:
    clock = _Clock()
    first = Suspicion(clock)
    first.suspect({"a/web"})
    first.acquit("a/web")
    assert not first.runs_alone("a/web")
    # A restart between two ends of the shared helper under the same release: the
    # second still counts, so it runs alone whatever its run alone shows.
    clock.now += suspicion.STRIKE_WINDOW / 2
    then = _next_process(first, clock)
    then.suspect({"a/web"})
    then.acquit("a/web")
    assert then.runs_alone("a/web")
    assert _next_process(then, clock).runs_alone("a/web")
    clock.now += suspicion.BACKOFF + 1
    assert not _next_process(then, clock).runs_alone("a/web")


def test_what_expired_is_not_kept() -> None:
    clock = _Clock()
    first = Suspicion(clock)
    first.confine("c/guilty")
    first.suspect({"a/web"})
    clock.now += suspicion.BACKOFF + 1
    kept = json.loads(first.document())
    assert kept["confined"] == {}
    assert kept["strikes"] == {}
    assert kept["suspects"] == {"a/web": 0}


def test_the_document_is_bounded_whatever_the_names() -> None:
    clock = _Clock()
    many = Suspicion(clock)
    ns, name = "n" * 63, "r" * 53
    for i in range(suspicion.KEPT + 100):
        many.suspect({f"{ns}{i}/{name}"})
        many.confine(f"{ns}{i}/{name}")
    document = many.document()
    assert len(document.encode()) <= suspicion.DOCUMENT_BYTES
    then = _next_process(many, clock)
    # The newest are kept; the oldest forgotten first.
    assert then.runs_alone(f"{ns}{suspicion.KEPT + 99}/{name}")
    assert not then.runs_alone(f"{ns}0/{name}")


def test_a_document_that_cannot_be_read_is_not_trusted() -> None:
    clock = _Clock()
    for text in ("not json", "[]", '{"version": 99, "suspects": {"a/web": 0}}'):
        then = Suspicion(clock)
        then.restore(text)
        assert not then.runs_alone("a/web")
    mixed = Suspicion(clock)
    mixed.restore(
        json.dumps(
            {
                "version": suspicion.VERSION,
                "suspects": {"a/web": 0, "a/odd": "soon", "a/list": [1]},
                "strikes": {"a/web": [clock.now, "x"], "a/bad": 3},
                "confined": ["c"],
            }
        )
    )
    assert mixed.runs_alone("a/web")
    assert not mixed.runs_alone("a/odd")
    assert not mixed.runs_alone("c/x")


def test_a_document_edited_to_break_the_reader_is_nothing_known() -> None:
    # Anyone who may write the ConfigMap could put these there: reading them must never
    # raise (every Helm action reads the suspicion first), and no time in them is kept.
    clock = _Clock()
    head = f'{{"version":{suspicion.VERSION},'
    for text in (
        head + '"suspects":{"a/web":Infinity}}',
        head + '"suspects":{"a/web":1e400}}',
        head + '"confined":{"a":NaN}}',
        head + '"strikes":{"a/web":[1e999]}}',
        head + '"suspects":{"a/web":' + "9" * 400 + "}}",
        head + '"suspects":{"a/web":' + "9" * 5000 + "}}",
        head + '"suspects":' + "[" * 200_000 + "]" * 200_000 + "}",
        head + '"suspects":{"a/web":0},"pad":"' + "x" * (suspicion.TEXT_BYTES + 1) + '"}',
    ):
        then = Suspicion(clock)
        assert then.restore(text) is False
        assert not then.runs_alone("a/web")
        assert not then.runs_alone("a/other")
        json.loads(then.document())  # and what it writes next is a document again
    assert Suspicion(clock).restore(head + '"suspects":{"a/web":0}}') is True


def test_a_restore_past_the_bound_keeps_the_newest() -> None:
    # The oldest are forgotten at once (bench/-free: one at a time was quadratic).
    many = Suspicion(_Clock())
    text = json.dumps(
        {"version": suspicion.VERSION, "suspects": {f"a/{i}": 0 for i in range(60_000)}}
    )
    many.restore(text)
    assert not many.runs_alone("a/0")
    assert many.runs_alone(f"a/{60_000 - 1}")
    assert len(many.suspects("a/")) == suspicion.KEPT


class _Kept:
    """A ConfigMap's reader holding `text` (the API server itself: tests/integration/helm)."""

    def __init__(self, text: str) -> None:
        self.client = self
        self.text = text

    async def get(self, path: str) -> dict[str, Any]:
        return {"data": {suspicionstore.KEY: self.text}}


async def test_a_corrupt_configmap_is_said_once_and_stops_no_action(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deep = '{"version":1,"suspects":' + "[" * 100_000 + "]" * 100_000 + "}"
    for text in ('{"version":1,"suspects":{"team-a/web":1e400}}', deep):
        store = SuspicionStore(cast(ResourceManager, _Kept(text)), "flux-system", "x")
        kept = Suspicion(_Clock())
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            await store.loaded(kept)
            await store.loaded(kept)  # loaded once: said once
        assert not kept.runs_alone("team-a/web")
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 1
        assert "could not all be read" in said[0]


def test_a_namespace_charged_with_shared_helper_ends_is_confined_whatever_alone_shows() -> None:
    # A render that stalls on I/O passes its wall-clock bound in the shared helper and
    # answers alone (no CPU spent): acquitted each time, yet each shared end costs every
    # tenant its actions in flight. Charged per namespace, the third end confines it.
    clock = _Clock()
    kept = Suspicion(clock)
    for i in range(suspicion.NAMESPACE_ENDS):
        assert not kept.runs_alone(f"evil/web{i}@c")
        kept.suspect({f"evil/web{i}@c"})
        kept.charge(f"evil/web{i}@c")
        kept.acquit(f"evil/web{i}@c")
        clock.now += 300
    assert kept.runs_alone("evil/a-new-name@c")
    assert not kept.runs_alone("other/web@c")
    assert _next_process(kept, clock).runs_alone("evil/another@c")
    # Ends further apart than the window never add up.
    spread = Suspicion(clock)
    for i in range(suspicion.NAMESPACE_ENDS + 2):
        spread.charge(f"slow/web{i}@c")
        clock.now += suspicion.STRIKE_WINDOW
    assert not spread.runs_alone("slow/web@c")


def test_merging_another_writers_document_keeps_both() -> None:
    clock = _Clock()
    ours, theirs = Suspicion(clock), Suspicion(clock)
    ours.suspect({"a/web@c"})
    theirs.suspect({"b/db@c"})
    theirs.confine("c/x@c")
    clock.now += 10
    theirs.suspect({"a/web@c"})  # a later strike of the same release
    ours.merge(theirs.document())
    assert ours.runs_alone("a/web@c")
    assert ours.runs_alone("b/db@c")
    assert ours.runs_alone("c/new@c")
    ours.acquit("a/web@c")  # struck twice within the window, one strike each side
    assert ours.runs_alone("a/web@c")


class _Configmap:
    """The API server's side of one ConfigMap, as the store reads and applies it (the
    real one: tests/integration/helm/test_helper_suspicion.py)."""

    def __init__(self, text: str, version: str) -> None:
        self.client = self
        self.stored = {"metadata": {"resourceVersion": version}, "data": {"suspicion.json": text}}
        self.applied: list[dict[str, Any]] = []

    async def get(self, path: str) -> dict[str, Any]:
        return self.stored

    async def put(self, body: dict[str, Any], path: str) -> dict[str, Any]:
        self.applied.append(body)
        return body


async def test_a_write_merges_what_another_writer_kept_and_names_its_version() -> None:
    clock = _Clock()
    other = Suspicion(clock)
    other.suspect({"b/db@c"})
    server = _Configmap(other.document(), "41")
    store = SuspicionStore(cast(ResourceManager, server), "flux-system", "x")
    ours = Suspicion(clock)
    ours.suspect({"a/web@c"})
    await store._write(ours)
    (body,) = server.applied
    assert body["metadata"]["resourceVersion"] == "41"
    written = json.loads(body["data"][suspicionstore.KEY])
    assert set(written["suspects"]) == {"a/web@c", "b/db@c"}
