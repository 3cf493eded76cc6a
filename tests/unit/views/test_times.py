"""Ages as kubectl prints them, the same in the CLI and on the dashboard."""

from __future__ import annotations

import datetime

import pytest

from kidp_gitops.views import times

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
    assert times.age(when.strftime("%Y-%m-%dT%H:%M:%SZ"), NOW) == shown


def test_age_of_nothing() -> None:
    assert times.age(None) == "-"
    assert times.age("not a time") == "-"
