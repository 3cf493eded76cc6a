"""Values remembered as coming from Secrets are masked in every form a message quotes."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from kidp_gitops.runtime import redact
from kidp_gitops.runtime.redact import MASK, Redactor

SECRET = 'p@ss"word\\n-42'


def test_every_form_of_a_value_is_masked_for_its_owner_only() -> None:
    r = Redactor()
    r.remember("Kustomization/a/apps", [SECRET])
    forms = [
        SECRET,
        base64.b64encode(SECRET.encode()).decode(),
        json.dumps(SECRET)[1:-1],
        repr(SECRET)[1:-1],
    ]
    for form in forms:
        said = f"data.password: 'edited' → '{form}'"
        assert r.text("Kustomization/a/apps", said) == f"data.password: 'edited' → '{MASK}'"
        assert r.text("Kustomization/b/apps", said) == said  # another object's message
        assert SECRET not in r.everywhere(said)


def test_a_rotated_value_stays_masked_and_forget_drops_them() -> None:
    r = Redactor()
    r.remember("o", ["first-secret"])
    r.remember("o", ["second-secret"])
    assert r.text("o", "first-secret second-secret") == f"{MASK} {MASK}"
    r.forget("o")
    assert r.text("o", "first-secret") == "first-secret"
    assert not r


def test_a_longer_value_is_masked_whole_before_a_shorter_one_inside_it() -> None:
    r = Redactor()
    r.remember("o", ["abcd", "abcdefgh"])
    assert r.text("o", "x abcdefgh y") == f"x {MASK} y"


def test_short_values_are_not_masked() -> None:
    r = Redactor()
    r.remember("o", ["1", "ab", "abc"])
    assert r.text("o", "replicas 1 ab abc") == "replicas 1 ab abc"


def test_log_records_are_masked_as_they_are_made(caplog: pytest.LogCaptureFixture) -> None:
    redact.REDACTOR.remember("Kustomization/t/logs", ["canary-in-a-log"])
    redact.mask_logs()
    redact.mask_logs()  # once is enough; twice changes nothing
    log = logging.getLogger("kidp_gitops.test")
    try:
        with caplog.at_level(logging.INFO):
            log.info("applied %s", "value canary-in-a-log")
            try:
                raise ValueError("failed on canary-in-a-log")
            except ValueError:
                log.exception("reconcile failed")
        text = caplog.text
        assert "canary-in-a-log" not in text
        assert f"applied value {MASK}" in text
        assert f"ValueError: failed on {MASK}" in text
    finally:
        redact.REDACTOR.forget("Kustomization/t/logs")


def test_a_value_cut_by_a_shortened_message_is_masked_too() -> None:
    r = Redactor()
    r.remember("o", ["canary-0123456789abcdef"])
    assert r.text("o", "value: 'canary-01234...") == f"value: '{MASK}..."
    assert r.text("o", "value: canary-0123456") == f"value: {MASK}"
    assert r.text("o", "helm said canary-012…, and more") == f"helm said {MASK}…, and more"
    assert r.text("o", "nothing of it here...") == "nothing of it here..."
