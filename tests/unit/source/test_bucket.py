"""The Bucket source's pure rules: Flux's revision of an index, and the keys refused
because they would not land as themselves inside the artifact."""

from __future__ import annotations

import hashlib

import pytest

from kidp_gitops.s3 import client as s3
from kidp_gitops.source import bucket


def test_the_revision_is_the_sha256_of_the_sorted_key_etag_lines() -> None:
    # As Flux's index.Digester: "<key> <etag>\n" per key, keys in byte order.
    text = "a/b.yaml 1\nb.yaml 22\nz\u00e9.yaml 3\n"
    wanted = f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"
    assert bucket.revision({"z\u00e9.yaml": "3", "b.yaml": "22", "a/b.yaml": "1"}) == wanted


def test_the_revision_changes_with_any_key_or_etag() -> None:
    base = bucket.revision({"a": "1", "b": "2"})
    assert bucket.revision({"a": "1", "b": "3"}) != base
    assert bucket.revision({"a": "1", "b": "2", "c": "3"}) != base
    assert bucket.revision({"a": "1"}) != base
    # An empty bucket has a revision too: the hash of nothing.
    assert bucket.revision({}) == f"sha256:{hashlib.sha256(b'').hexdigest()}"


@pytest.mark.parametrize(
    "key",
    ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/./b", "a\x00b", "k" * 1025],
)
def test_keys_that_would_leave_the_artifact_root_are_refused(key: str) -> None:
    with pytest.raises(s3.S3Error, match="would leave the artifact's root"):
        bucket.check_key(key)


@pytest.mark.parametrize("key", ["a.yaml", "apps/a b+c~.yaml", "x/..y/z", "\u00e9/f"])
def test_ordinary_keys_pass(key: str) -> None:
    bucket.check_key(key)


def _obj(key: str) -> s3.ObjectInfo:
    return s3.ObjectInfo(key, "e", 1)


def test_ignore_rules_are_gitignore_rules_over_the_keys() -> None:
    objects = [_obj(k) for k in ("a.yaml", "README.md", "docs/x.yaml", "apps/docs/y.yaml")]
    kept = bucket.keep(objects, ["*.md", "/docs/", "!README.md"])
    assert [o.key for o in kept] == ["a.yaml", "README.md", "apps/docs/y.yaml"]


def test_rules_too_many_to_compile_fail_the_reconcile_with_a_reason() -> None:
    patterns = [f"dir{i}/**/*.x{i}" for i in range(3000)]
    with pytest.raises(s3.S3Error, match="cannot be used"):
        bucket.keep([_obj("a.yaml")], patterns)


def test_a_kept_key_that_escapes_is_refused_and_an_ignored_one_is_not() -> None:
    with pytest.raises(s3.S3Error, match="leave the artifact's root"):
        bucket.keep([_obj("../x.yaml")], [])
    assert bucket.keep([_obj("../x.yaml"), _obj("a")], ["*.yaml"]) == [_obj("a")]
