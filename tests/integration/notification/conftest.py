"""Fixtures of the notification tests."""

from __future__ import annotations

import pytest

from kidp_gitops.engine.run import Engine
from kidp_gitops.notification.controller import AlertController


@pytest.fixture
def quick_retries(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's engine retries a failing Provider after 0.05 s, 0.1 s, 0.2 s, 0.4 s
    instead of 0.5 s, 1 s, 2 s, 4 s: a test that waits for a failure to be reported (after
    the same four retries) does not wait out 7.5 s of backoff."""
    assert engine.manager is not None
    alerts = next(c for c in engine.manager.controllers if isinstance(c, AlertController))
    monkeypatch.setattr(alerts.dispatcher.sender, "backoff", 0.05)
