from __future__ import annotations

import base64
import json

import pytest

from kidp_gitops.oci.auth import Credentials, dockerconfig, from_dockerconfig
from kidp_gitops.oci.errors import AuthError


def test_dockerconfig_round_trips_the_credentials_of_a_host() -> None:
    creds = Credentials("robot", "s3cret")
    config = dockerconfig("127.0.0.1:5000", creds)
    assert from_dockerconfig(config, "127.0.0.1:5000") == creds
    assert from_dockerconfig(config, "ghcr.io") is None


def test_the_auth_entry_is_read_when_username_and_password_are_absent() -> None:
    auth = base64.b64encode(b"me:pw").decode()
    config = json.dumps({"auths": {"https://ghcr.io": {"auth": auth}}}).encode()
    assert from_dockerconfig(config, "ghcr.io") == Credentials("me", "pw")


def test_a_config_that_is_not_json_is_refused_without_its_content() -> None:
    with pytest.raises(AuthError) as err:
        from_dockerconfig(b"password=hunter2", "ghcr.io")
    assert "hunter2" not in str(err.value)


def test_credentials_do_not_show_the_password() -> None:
    assert "s3cret" not in repr(Credentials("robot", "s3cret"))
