"""TAB completion's one GET, sent with the standard library (`kube/quickget.py`), against
a real HTTP server on loopback: the answer, the token, the API server's errors as the
client raises them, and None for a kubeconfig only the full client reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from kidp_gitops.kube import quickget
from kidp_gitops.kube.errors import ApiError, ConfigError, ConnectionFailed

PATH = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations"


def kubeconfig(path: Path, server: str, user: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters:\n- name: c\n  cluster:\n    server: {server}\n"
        f"users:\n- name: u\n  user:\n    {user}\n"
        "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n"
    )
    return path


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """Answers PATH to the token `t0k`, 401 to anyone else, 404 elsewhere."""
    seen: list[web.Request] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request)
        if request.headers.get("Authorization") != "Bearer t0k":
            return web.json_response({"message": "Unauthorized"}, status=401)
        if request.path != PATH:
            return web.json_response(
                {"kind": "Status", "message": "the server could not find it"}, status=404
            )
        return web.json_response({"items": [{"metadata": {"name": "apps"}}]})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


async def test_the_answer_comes_with_the_token_of_the_kubeconfig(
    server: tuple[str, list[web.Request]], tmp_path: Path
) -> None:
    url, seen = server
    config = kubeconfig(tmp_path / "config", url, "token: t0k")
    answer = await asyncio.to_thread(quickget.get, PATH, {"limit": "5"}, kubeconfig=config)
    assert answer == {"items": [{"metadata": {"name": "apps"}}]}
    assert seen[0].query["limit"] == "5"


async def test_errors_of_the_api_server_are_api_errors(
    server: tuple[str, list[web.Request]], tmp_path: Path
) -> None:
    url, _ = server
    config = kubeconfig(tmp_path / "config", url, "token: t0k")
    with pytest.raises(ApiError) as missing:
        await asyncio.to_thread(quickget.get, "/api/v1/nothing", kubeconfig=config)
    assert missing.value.not_found
    assert missing.value.message == "the server could not find it"
    wrong = kubeconfig(tmp_path / "wrong", url, "token: other")
    with pytest.raises(ApiError) as refused:
        await asyncio.to_thread(quickget.get, PATH, kubeconfig=wrong)
    assert refused.value.status == 401


def test_an_unreachable_server_fails_to_connect(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "config", "http://127.0.0.1:1", "token: t0k")
    with pytest.raises(ConnectionFailed):
        quickget.get(PATH, kubeconfig=config)


def test_a_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        quickget.get(PATH, kubeconfig=tmp_path / "nothing")


def test_a_kubeconfig_with_a_plugin_is_left_to_the_client(tmp_path: Path) -> None:
    config = kubeconfig(
        tmp_path / "config", "https://127.0.0.1:6443", "exec: {command: aws, apiVersion: v1}"
    )
    assert quickget.get(PATH, kubeconfig=config) is None
