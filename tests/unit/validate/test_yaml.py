"""YAML syntax errors, duplicate keys and duplicate objects, each at its line."""

from __future__ import annotations

from pathlib import Path

from tests.unit.validate.conftest import failing, run, write


def test_a_syntax_error_names_file_and_line(repo: Path) -> None:
    write(repo, "policies/broken.yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: [1, 2\n")
    found = failing(run(repo))
    (syntax,) = [f for f in found if f.check == "yaml"]
    assert syntax.file == "policies/broken.yaml"
    assert syntax.line in (4, 5)
    assert syntax.message.startswith("YAML syntax error:")
    # The build that reads the file fails too, and says so.
    (build,) = [f for f in found if f.check == "build"]
    assert build.object == "Kustomization/flux-system/policies"


def test_duplicate_keys(repo: Path) -> None:
    write(
        repo,
        "policies/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: team-backend\n"
        "data:\n  x: '1'\n  x: '2'\n",
    )
    (finding,) = [f for f in failing(run(repo)) if f.check == "yaml"]
    assert finding.where() == "policies/cm.yaml:8"
    assert finding.message == "duplicate key 'x' (first on line 7); kustomize rejects it"


def test_duplicate_objects_in_one_directory(repo: Path) -> None:
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: team-backend\n"
    write(repo, "policies/one.yaml", config)
    write(repo, "policies/two.yaml", "# the same again\n---\n" + config)
    found = [f for f in failing(run(repo)) if f.check == "duplicate"]
    assert [(f.where(), f.object) for f in found] == [
        ("policies/two.yaml:3", "ConfigMap/team-backend/a")
    ]
    assert "policies/one.yaml:1" in found[0].message
