"""The pure pieces of the CLI's output: ages as kubectl prints them, plain tables."""

from __future__ import annotations

import datetime

import pytest
from typer.testing import CliRunner

from kidp_gitops.cli import output

NOW = datetime.datetime(2025, 1, 10, 12, 0, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (2 * 3600 + 60, "121m"),
        (4 * 3600 + 12 * 60, "4h12m"),
        (20 * 3600, "20h"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (40 * 86400, "40d"),
        (800 * 86400, "2y"),
    ],
)
def test_age_reads_like_kubectl(seconds: int, shown: str) -> None:
    when = NOW - datetime.timedelta(seconds=seconds)
    assert output.age(when.strftime("%Y-%m-%dT%H:%M:%SZ"), NOW) == shown


def test_age_of_nothing() -> None:
    assert output.age(None) == "-"
    assert output.age("not a time") == "-"


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
