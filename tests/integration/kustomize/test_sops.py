"""SOPS decryption end to end: files encrypted by the real `sops` CLI (age, and PGP keys
made by the real `gpg`) in a real git repository, a Kustomization with
`decryption: {provider: sops, secretRef: …}` on the real control plane.

Encrypted Secrets are applied decrypted; a secretGenerator's encrypted dotenv and JSON
files are decrypted before kustomize runs; a tampered file or a key the Secret does not
hold stops the reconcile with DecryptionFailed, names the file, shows no secret value in
status or events, and applies nothing (the last good state stays)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kidp_gitops.kube import KubeClient
from tests.gitserver import GitHttpServer, GitRepos
from tests.integration.kustomize.helpers import KS, ready, setup_source, wait_ready
from tests.integration.source.helpers import create_secret, request_reconcile
from tests.integration.wait import until
from tests.unit.sops.conftest import PgpKey, Sops, make_age_key, make_pgp_key

pytestmark = pytest.mark.usefixtures("engine")

PGP_VALUE = "pgp-Pl41n-Value-7"
AGE_VALUE = "age-Pl41n-Value-8"
ENV_VALUE = "env-Pl41n-Value-9"
JSON_VALUE = "json-Pl41n-Value-10"
ALL_VALUES = (PGP_VALUE, AGE_VALUE, ENV_VALUE, JSON_VALUE)


@pytest.fixture(scope="module")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    yield home
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False
    )


@pytest.fixture(scope="module")
def pgp_key(gnupg_home: Path) -> PgpKey:
    return make_pgp_key(gnupg_home, "flux@kidp.invalid")


@pytest.fixture
def sops_cli(tmp_path: Path, gnupg_home: Path) -> Sops:
    return Sops(tmp_path, gnupg_home)


def _secret(name: str, namespace: str, value: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"password": value},
        }
    )


def _kustomization(name: str, path: str, secret: str, namespace: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name},
        "spec": {
            "interval": "1h",
            "path": path,
            "prune": True,
            **({"targetNamespace": namespace} if namespace else {}),
            "decryption": {"provider": "sops", "secretRef": {"name": secret}},
            "sourceRef": {"kind": "GitRepository", "name": "kidp-infrastructure"},
        },
    }


async def _secret_data(kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
    found = await kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    return {k: base64.b64decode(v).decode() for k, v in found["data"].items()}


async def _no_value_shown(kube: KubeClient, namespace: str, names: set[str]) -> list[str]:
    """Every status and event message of the named Kustomizations; asserts none holds a
    plaintext value."""
    texts: list[str] = []
    for name in names:
        obj = await kube.get(f"{KS.format(ns=namespace)}/{name}")
        texts.append(json.dumps(obj.get("status") or {}))
    events = await kube.get(f"/api/v1/namespaces/{namespace}/events")
    texts += [
        e.get("message") or "" for e in events["items"] if e["involvedObject"].get("name") in names
    ]
    for text in texts:
        for value in ALL_VALUES:
            assert value not in text
    return texts


async def test_pgp_and_age_encrypted_secrets_are_applied_decrypted(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    sops_cli: Sops,
    pgp_key: PgpKey,
) -> None:
    age_key = make_age_key()
    only_data = ["--encrypted-regex", "^(data|stringData)$"]
    pgp_file = sops_cli.encrypt(
        _secret("from-pgp", namespace, PGP_VALUE),
        "pgp.yaml",
        pgp=[pgp_key.fingerprint],
        args=only_data,
    )
    age_file = sops_cli.encrypt(
        _secret("from-age", namespace, AGE_VALUE), "age.yaml", age=[age_key.recipient]
    )
    assert PGP_VALUE.encode() not in pgp_file
    assert AGE_VALUE.encode() not in age_file
    files = {"pgp/secret.yaml": pgp_file.decode(), "age/secret.yaml": age_file.decode()}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await create_secret(kube, namespace, "sops-gpg", {"flux.asc": pgp_key.armored_secret})
    await create_secret(kube, namespace, "sops-age", {"age.agekey": f"{age_key.identity}\n"})
    await kube.create(KS.format(ns=namespace), _kustomization("pgp", "./pgp", "sops-gpg"))
    await kube.create(KS.format(ns=namespace), _kustomization("age", "./age", "sops-age"))

    await wait_ready(kube, namespace, "pgp", "True", "ReconciliationSucceeded", timeout=120)
    await wait_ready(kube, namespace, "age", "True", "ReconciliationSucceeded", timeout=120)
    assert await _secret_data(kube, namespace, "from-pgp") == {"password": PGP_VALUE}
    assert await _secret_data(kube, namespace, "from-age") == {"password": AGE_VALUE}
    await _no_value_shown(kube, namespace, {"pgp", "age"})


async def test_secret_generator_files_and_failures(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    sops_cli: Sops,
    pgp_key: PgpKey,
) -> None:
    age_key = make_age_key()
    dotenv = f"DB_USER=admin\nDB_PASSWORD={ENV_VALUE}\n"
    settings = {"token": JSON_VALUE, "port": 5432}
    env_file = sops_cli.encrypt(dotenv, "app.env", age=[age_key.recipient])
    json_file = sops_cli.encrypt(json.dumps(settings), "settings.json", pgp=[pgp_key.fingerprint])
    kustomization = """\
resources: [config.yaml]
generatorOptions:
  disableNameSuffixHash: true
secretGenerator:
  - name: app
    envs: [app.env]
    files: [settings.json]
"""
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  rev: '{}'\n"
    files: dict[str, str] = {
        "app/kustomization.yaml": kustomization,
        "app/config.yaml": config.format(1),
        "app/app.env": env_file.decode(),
        "app/settings.json": json_file.decode(),
    }
    repo = await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await create_secret(
        kube,
        namespace,
        "sops-keys",
        {"app.agekey": f"{age_key.identity}\n", "flux.asc": pgp_key.armored_secret},
    )
    await kube.create(
        KS.format(ns=namespace), _kustomization("app", "./app", "sops-keys", namespace)
    )
    await wait_ready(kube, namespace, "app", "True", "ReconciliationSucceeded", timeout=120)
    generated = await _secret_data(kube, namespace, "app")
    assert generated["DB_PASSWORD"] == ENV_VALUE
    assert generated["DB_USER"] == "admin"
    assert json.loads(generated["settings.json"]) == settings
    config_path = f"/api/v1/namespaces/{namespace}/configmaps/app-config"

    # A tampered file (a line removed): its MAC fails; nothing is applied.
    lines = env_file.decode().splitlines(keepends=True)
    kept = "".join(line for line in lines if not line.startswith("DB_USER="))
    with git_repos.worktree(repo, "main") as wt:
        wt.write({"app/app.env": kept, "app/config.yaml": config.format(2)})
        tampered = wt.commit("tamper with the dotenv file")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    failed = await wait_ready(
        kube, namespace, "app", "False", "DecryptionFailed", revision=tampered, timeout=120
    )
    message = ready(failed)["message"]
    assert message.startswith("app/app.env: ")
    assert "MAC" in message
    assert (await kube.get(config_path))["data"]["rev"] == "1"
    assert (await _secret_data(kube, namespace, "app"))["DB_PASSWORD"] == ENV_VALUE

    # A file encrypted for a key the decryption Secret does not hold.
    stranger = make_age_key()
    foreign = sops_cli.encrypt(
        dotenv.replace(ENV_VALUE, "other"), "x.env", age=[stranger.recipient]
    )
    with git_repos.worktree(repo, "main") as wt:
        wt.write({"app/app.env": foreign.decode()})
        wrong_key = wt.commit("encrypt for another key")
        wt.push()
    await request_reconcile(kube, namespace, "kidp-infrastructure")
    failed = await wait_ready(
        kube, namespace, "app", "False", "DecryptionFailed", revision=wrong_key, timeout=120
    )
    message = ready(failed)["message"]
    assert "app/app.env" in message
    assert stranger.recipient in message
    assert age_key.recipient in message
    assert stranger.identity not in message
    assert age_key.identity not in message
    assert (await kube.get(config_path))["data"]["rev"] == "1"
    assert (await _secret_data(kube, namespace, "app"))["DB_PASSWORD"] == ENV_VALUE

    texts = await _no_value_shown(kube, namespace, {"app"})
    assert any("app/app.env" in text for text in texts[1:])  # an event names the file


async def test_the_decryption_secret_missing_or_unusable(
    kube: KubeClient,
    namespace: str,
    git_repos: GitRepos,
    http_git: GitHttpServer,
    unique_repo: Callable[[str], str],
    sops_cli: Sops,
) -> None:
    age_key = make_age_key()
    encrypted = sops_cli.encrypt(
        _secret("late", namespace, AGE_VALUE), "late.yaml", age=[age_key.recipient]
    )
    files = {"late/secret.yaml": encrypted.decode()}
    await setup_source(kube, namespace, git_repos, http_git, unique_repo, files)
    await kube.create(KS.format(ns=namespace), _kustomization("late", "./late", "sops-late"))
    failed = await wait_ready(kube, namespace, "late", "False", "DecryptionFailed", timeout=120)
    assert ready(failed)["message"] == f"decryption Secret '{namespace}/sops-late' not found"

    # A key entry that holds no key: the entry is named, never its content.
    garbage = "AGE-SECRET-KEY-NOT-REALLY"
    await create_secret(kube, namespace, "sops-late", {"late.agekey": garbage})
    await _request(kube, namespace, "late")

    async def entry_named() -> str | None:
        message = str(ready(await kube.get(f"{KS.format(ns=namespace)}/late")).get("message"))
        return message if "late.agekey" in message else None

    message = await until(entry_named, 120, "the unusable key entry to be reported")
    assert garbage not in message

    # With the key in place, the next reconcile applies the Secret decrypted.
    await create_secret(kube, namespace, "sops-late", {"late.agekey": age_key.identity})
    await _request(kube, namespace, "late")
    await wait_ready(kube, namespace, "late", "True", "ReconciliationSucceeded", timeout=120)
    assert await _secret_data(kube, namespace, "late") == {"password": AGE_VALUE}
    await _no_value_shown(kube, namespace, {"late"})


async def _request(kube: KubeClient, namespace: str, name: str) -> None:
    stamp = f"{time.time():.6f}"
    await kube.patch(
        f"{KS.format(ns=namespace)}/{name}",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
    )
