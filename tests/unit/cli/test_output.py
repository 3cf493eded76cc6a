"""The pure pieces of the CLI's output: plain tables."""

from __future__ import annotations

from typer.testing import CliRunner

from kidp_gitops.cli import output


def test_tables_are_plain_lines_when_piped() -> None:
    runner = CliRunner()
    with runner.isolation() as (out, _err, _):
        output.print_table(["NAME", "MESSAGE"], [["a", "x" * 300], ["bb", "short"]])
        text = out.getvalue().decode()
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "MESSAGE"]
    assert lines[1] == "a      " + "x" * 300  # never wrapped, never coloured
    assert lines[2] == "bb     short"  # no padding after the last column
    assert "\x1b[" not in text


def test_documents_open_with_separators() -> None:
    text = output.dump_documents([{"a": 1}, {"b": 2}])
    assert text == "---\na: 1\n---\nb: 2\n"
