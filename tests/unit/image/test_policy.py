from __future__ import annotations

import pytest

from kidp_gitops.api import image as api
from kidp_gitops.image import policy


def choice(**rule: object) -> api.ImagePolicyChoice:
    return api.ImagePolicyChoice.model_validate(rule)


def tag_filter(pattern: str, extract: str | None = None) -> api.TagFilter:
    return api.TagFilter(pattern=pattern, extract=extract)


TAGS = ["1.0.0", "v1.9.2", "1.10.0", "2.0.0-rc.1", "latest", "main-7"]


@pytest.mark.parametrize(
    ("rng", "expected"),
    [
        (">=1.0.0", "1.10.0"),
        ("~1.9", "v1.9.2"),
        ("<1.5.0", "1.0.0"),
        (">=2.0.0-0", "2.0.0-rc.1"),
        ("^3", None),
    ],
)
def test_semver_picks_the_highest_version_in_range(rng: str, expected: str | None) -> None:
    assert policy.select(TAGS, choice(semver={"range": rng}), None) == expected


def test_alphabetical_and_numerical_orders() -> None:
    tags = ["b", "a", "c"]
    assert policy.select(tags, choice(alphabetical={"order": "asc"}), None) == "c"
    assert policy.select(tags, choice(alphabetical={"order": "desc"}), None) == "a"
    numbers = ["9", "10", "2"]
    assert policy.select(numbers, choice(numerical={"order": "asc"}), None) == "10"
    assert policy.select(numbers, choice(numerical={"order": "desc"}), None) == "2"


def test_filter_and_extract_compare_the_extracted_part_but_return_the_tag() -> None:
    tags = ["main-abc-1700000009", "main-def-1700000010", "dev-1800000000", "main-x"]
    picked = policy.select(
        tags,
        choice(numerical={"order": "asc"}),
        tag_filter(r"^main-[a-z]+-(?P<ts>\d+)$", "$ts"),
    )
    assert picked == "main-def-1700000010"
    assert (
        policy.select(
            ["rc-1.2.0", "rc-1.10.0", "1.99.0"],
            choice(semver={"range": ">=1.0.0"}),
            tag_filter(r"^rc-(.*)$", "${1}"),
        )
        == "rc-1.10.0"
    )


def test_bad_rules_are_policy_errors() -> None:
    with pytest.raises(policy.PolicyError, match="not a valid regular expression"):
        policy.select(TAGS, choice(alphabetical={}), tag_filter("(unclosed"))
    with pytest.raises(policy.PolicyError, match=r"semver\.range"):
        policy.select(TAGS, choice(semver={"range": ">>1"}), None)
    with pytest.raises(policy.PolicyError, match="'latest' is not a number"):
        policy.select(["1", "latest"], choice(numerical={}), None)


def test_exactly_one_rule() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        choice(semver={"range": "*"}, alphabetical={})
