"""Completion of object names: the command line picks the kind (`source helm` →
HelmRepository, `source chart` → HelmChart, `hr`, `ks`…) and the namespace; the names
come from the cluster (here a listing that names each object after its kind)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli import completion, session
from kidp_gitops.cli.errors import CliError
from kidp_gitops.cli.main import app
from kidp_gitops.views import kinds


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("git", kinds.GIT_REPOSITORY),
        ("helm", kinds.HELM_REPOSITORY),
        ("chart", kinds.HELM_CHART),
        ("ks", kinds.KUSTOMIZATION),
        ("kustomizations", kinds.KUSTOMIZATION),
        ("hr", kinds.HELM_RELEASE),
        ("helmreleases", kinds.HELM_RELEASE),
    ],
)
def test_the_command_names_the_kind(word: str, kind: kinds.Kind) -> None:
    assert completion.kind_of(word) is kind


def test_other_commands_complete_no_names() -> None:
    assert completion.kind_of("stats") is None


class FakeCluster:
    """Lists two objects of each kind in each namespace, named after the kind and the
    namespace; remembers where each listing looked."""

    def __init__(self, reachable: bool = True) -> None:
        self.reachable = reachable
        self.asked: list[tuple[str, str | None]] = []

    def list_names(self, target: session.Target, kind: kinds.Kind) -> list[str]:
        if not self.reachable:
            raise CliError("cannot reach the Kubernetes API server")
        self.asked.append((kind.kind, target.scope))
        return [f"{kind.kind.lower()}-{target.scope}-{n}" for n in ("one", "two")]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    fake = FakeCluster()
    monkeypatch.setattr(session, "list_names", fake.list_names)
    return fake


def complete(words: str) -> list[str]:
    result = CliRunner().invoke(
        app,
        [],
        prog_name="kidp",
        env={
            "_KIDP_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        },
    )
    return result.stdout.split()


@pytest.mark.parametrize(
    "line",
    [
        "kidp get sources helm -n apps ",
        "kidp reconcile source helm -n apps ",
        "kidp get source helm -n apps ",
    ],
)
def test_source_helm_completes_helmrepositories(cluster: FakeCluster, line: str) -> None:
    assert complete(line) == ["helmrepository-apps-one", "helmrepository-apps-two"]
    assert cluster.asked == [("HelmRepository", "apps")]


@pytest.mark.parametrize(
    "line",
    [
        "kidp get sources chart -n apps helmchart-apps-t",
        "kidp reconcile source chart -n apps helmchart-apps-t",
    ],
)
def test_source_chart_completes_helmcharts_by_prefix(cluster: FakeCluster, line: str) -> None:
    assert complete(line) == ["helmchart-apps-two"]
    assert cluster.asked == [("HelmChart", "apps")]


def test_names_come_from_the_default_namespace(cluster: FakeCluster) -> None:
    assert complete("kidp reconcile hr ") == [
        "helmrelease-flux-system-one",
        "helmrelease-flux-system-two",
    ]


def test_an_unreachable_cluster_completes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCluster(reachable=False)
    monkeypatch.setattr(session, "list_names", fake.list_names)
    assert complete("kidp get sources chart ") == []
