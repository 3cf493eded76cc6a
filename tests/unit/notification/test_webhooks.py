"""Webhook authentication per Receiver type, and the webhook path."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from multidict import CIMultiDict

from kidp_gitops.notification import webhooks
from kidp_gitops.notification.receiver import webhook_path
from kidp_gitops.notification.webhooks import Rejected, Verdict, check

BODY = b'{"ref": "refs/heads/main"}'


def sig(algo: str, token: str = "t0ken", body: bytes = BODY) -> str:
    return hmac.new(token.encode(), body, getattr(hashlib, algo)).hexdigest()


def h(**headers: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()})


def test_webhook_path_is_flux_s() -> None:
    digest = hashlib.sha256(b"t0kenreceiverflux-system").hexdigest()
    assert webhook_path("t0ken", "receiver", "flux-system") == f"/hook/{digest}"


def test_github() -> None:
    good = h(X_Hub_Signature_256=f"sha256={sig('sha256')}", X_GitHub_Event="push")
    assert check("github", "t0ken", ["push"], good, BODY) is Verdict.ACT
    legacy = h(X_Hub_Signature=f"sha1={sig('sha1')}", X_GitHub_Event="push")
    assert check("github", "t0ken", [], legacy, BODY) is Verdict.ACT
    ping = h(X_Hub_Signature_256=f"sha256={sig('sha256')}", X_GitHub_Event="ping")
    assert check("github", "t0ken", ["push"], ping, BODY) is Verdict.PONG
    for bad in (
        h(X_GitHub_Event="push"),
        h(X_Hub_Signature_256="sha256=00", X_GitHub_Event="push"),
    ):
        with pytest.raises(Rejected) as err:
            check("github", "t0ken", [], bad, BODY)
        assert err.value.status == 401
    other = h(X_Hub_Signature_256=f"sha256={sig('sha256')}", X_GitHub_Event="issues")
    with pytest.raises(Rejected) as err:
        check("github", "t0ken", ["push"], other, BODY)
    assert err.value.status == 403


def test_gitlab_bitbucket_harbor_generic_hmac_nexus() -> None:
    assert check("gitlab", "t0ken", [], h(X_Gitlab_Token="t0ken"), BODY) is Verdict.ACT
    with pytest.raises(Rejected):
        check("gitlab", "t0ken", [], h(X_Gitlab_Token="nope"), BODY)
    with pytest.raises(Rejected):
        check(
            "gitlab",
            "t0ken",
            ["Tag Push Hook"],
            h(X_Gitlab_Token="t0ken", X_Gitlab_Event="Push Hook"),
            BODY,
        )
    bb = h(X_Hub_Signature=f"sha256={sig('sha256')}", X_Event_Key="repo:refs_changed")
    assert check("bitbucket", "t0ken", [], bb, BODY) is Verdict.ACT
    assert check("harbor", "t0ken", [], h(Authorization="t0ken"), BODY) is Verdict.ACT
    with pytest.raises(Rejected):
        check("harbor", "t0ken", [], h(), BODY)
    assert (
        check("generic-hmac", "t0ken", [], h(X_Signature=f"sha1={sig('sha1')}"), BODY)
        is Verdict.ACT
    )
    with pytest.raises(Rejected):
        check("generic-hmac", "t0ken", [], h(X_Signature=f"sha1={sig('sha1', 'wrong')}"), BODY)
    nexus = h(X_Nexus_Webhook_Signature=sig("sha1"))
    assert check("nexus", "t0ken", [], nexus, BODY) is Verdict.ACT


def test_payload_shapes() -> None:
    docker = b'{"push_data": {"tag": "1.0"}, "repository": {"repo_url": "x"}}'
    assert check("dockerhub", "t", [], h(), docker) is Verdict.ACT
    with pytest.raises(Rejected) as err:
        check("quay", "t", [], h(), docker)
    assert err.value.status == 400
    assert webhooks.check("generic", "t", [], h(), b"") is Verdict.ACT
