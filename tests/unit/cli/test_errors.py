"""What a user sees when something is wrong before any cluster answers: one line on
stderr and an exit code, from the group's single error handler."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli import session
from kidp_gitops.cli.main import app


def lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_missing_kubeconfig_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["get", "ks"], env={"KUBECONFIG": str(tmp_path / "none")})
    assert result.exit_code == 1
    assert lines(result.output) == [
        f"✗ no kubeconfig at {tmp_path / 'none'} (set --kubeconfig or KUBECONFIG)"
    ]
    assert result.stdout == ""  # errors go to stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["get", "ks", "--bogus"], "✗ No such option: --bogus (see 'kidp get ks --help')"),
        (["reconcile", "ks"], "✗ Missing argument 'NAME' (see 'kidp reconcile ks --help')"),
        (["get", "widgets"], "✗ No such command 'widgets' (see 'kidp get --help')"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], line: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert [entry.lower() for entry in lines(result.output)] == [line.lower()]


def test_a_cli_error_keeps_its_exit_code(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["diff", "ks", "x", "--path", str(tmp_path)], env={"KUBECONFIG": str(tmp_path / "n")}
    )
    assert result.exit_code == 2  # diff: >1 is an error
    assert lines(result.output)[0].startswith("✗ no kubeconfig at")


def test_version_and_help_still_work() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["version"]).stdout.strip() == "0.1.0"
    help_text = runner.invoke(app, ["--help"])
    assert help_text.exit_code == 0
    for verb in ("get", "reconcile", "suspend", "resume", "diff", "build", "tree", "events"):
        assert verb in help_text.stdout


def test_shell_completion_is_offered() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in result.stdout


def test_ctrl_c_in_a_command_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(session, "run", interrupted)
    result = CliRunner().invoke(app, ["get", "ks", "-A", "--watch"])
    assert result.exit_code == 130
    assert lines(result.output) == []


def test_end_of_input_at_a_prompt_aborts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "run", lambda *_: {"spec": {"prune": False}})
    result = CliRunner().invoke(app, ["delete", "ks", "apps"], input="")
    assert result.exit_code == 1
    assert lines(result.output)[-1] == "✗ aborted"  # on a line of its own
