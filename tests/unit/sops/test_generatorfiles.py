"""Encrypted files that kustomize reads (secretGenerator envs/files, patches), decrypted
before the real kustomize runs, as kustomize-controller does; the artifact untouched."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from kidp_gitops import sops
from kidp_gitops.api import kustomize as api
from kidp_gitops.kustomize import pipeline
from kidp_gitops.proc import run as proc
from kidp_gitops.render import build
from kidp_gitops.render.build import Overlay
from tests.unit.render.layout import snapshot, write
from tests.unit.sops.conftest import AgeKey, PgpKey, Sops
from tests.unit.sops.test_documents import PLAINTEXT, age_keyring, pgp_keyring

DOTENV = f"DB_USER=admin\nDB_PASSWORD={PLAINTEXT}\n"
SETTINGS = {"token": PLAINTEXT, "port": 5432}


def _put(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _secret(objects: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    found = [
        o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"].startswith(prefix)
    ]
    assert len(found) == 1, [o["metadata"]["name"] for o in objects]
    return {k: base64.b64decode(v).decode() for k, v in found[0]["data"].items()}


def _configmap(objects: list[dict[str, Any]]) -> dict[str, str]:
    (found,) = [o for o in objects if o["kind"] == "ConfigMap"]
    data: dict[str, str] = found["data"]
    return data


@pytest.fixture
def artifact(
    tmp_path: Path, sops_pgp: Sops, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> Path:
    """A base whose generators read age-encrypted files, and an overlay (spec.path) whose
    own generator reads a PGP-encrypted dotenv file."""
    root = tmp_path / "artifact"
    age = [age_keys[0].recipient]
    _put(root, "apps/base/db.env", sops_pgp.encrypt(DOTENV, "db.env", age=age))
    _put(
        root,
        "apps/base/settings.enc.json",
        sops_pgp.encrypt(json.dumps(SETTINGS), "s.json", age=age),
    )
    _put(root, "apps/base/cert.pem", sops_pgp.encrypt(b"-----BEGIN X-----\n", "cert.pem", age=age))
    _put(root, "apps/base/cm.env", sops_pgp.encrypt("MODE=fast\n", "cm.env", age=age))
    write(root, "apps/base/plain.txt", "not a secret\n")
    write(
        root,
        "apps/base/kustomization.yaml",
        """
        secretGenerator:
          - name: db
            envs: [db.env]
            files: [settings.json=settings.enc.json, cert.pem, plain.txt]
        configMapGenerator:
          - name: cm
            envs: [cm.env]
        """,
    )
    fp = pgp_keys[0].fingerprint
    _put(root, "apps/prod/prod.env", sops_pgp.encrypt("API_KEY=k-123\n", "prod.env", pgp=[fp]))
    write(
        root,
        "apps/prod/kustomization.yaml",
        """
        resources: [../base]
        secretGenerator:
          - name: prod
            envs: [prod.env]
        """,
    )
    return root


def _keyring(age: AgeKey, pgp: PgpKey) -> sops.Keyring:
    data = {"age.agekey": age.identity.encode(), "pgp.asc": pgp.armored_secret}
    return sops.Keyring.from_secret_data(data)


def test_generator_files_are_decrypted_in_a_scratch_copy(
    artifact: Path, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> None:
    before = snapshot(artifact)
    keyring = _keyring(age_keys[0], pgp_keys[0])
    objects = build.build(
        artifact, "apps/prod", Overlay(), allow_remote_bases=False, keyring=keyring
    )
    db = _secret(objects, "db-")
    assert db["DB_PASSWORD"] == PLAINTEXT
    assert db["DB_USER"] == "admin"
    assert json.loads(db["settings.json"]) == SETTINGS
    assert db["cert.pem"] == "-----BEGIN X-----\n"
    assert db["plain.txt"] == "not a secret\n"
    assert _secret(objects, "prod-") == {"API_KEY": "k-123"}
    # A ConfigMap never receives decrypted data, as in Flux.
    assert "sops_mac" in _configmap(objects)
    assert snapshot(artifact) == before


def test_same_result_with_an_overlay_that_amends_the_kustomization(
    artifact: Path, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> None:
    keyring = _keyring(age_keys[0], pgp_keys[0])
    overlay = Overlay(target_namespace="prod")
    objects = build.build(artifact, "apps/prod", overlay, allow_remote_bases=False, keyring=keyring)
    assert _secret(objects, "db-")["DB_PASSWORD"] == PLAINTEXT
    assert {o["metadata"]["namespace"] for o in objects} == {"prod"}


def test_without_decryption_the_files_stay_encrypted(artifact: Path) -> None:
    objects = build.build(artifact, "apps/prod", Overlay(), allow_remote_bases=False)
    assert "sops_mac" in _secret(objects, "prod-")


def test_a_missing_key_names_the_file_and_no_value(
    artifact: Path, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> None:
    wrong = _keyring(age_keys[1], pgp_keys[0])
    with pytest.raises(sops.NoMatchingKey) as caught:
        build.build(artifact, "apps/prod", Overlay(), allow_remote_bases=False, keyring=wrong)
    message = str(caught.value)
    assert message.startswith("apps/base/")
    assert age_keys[0].recipient in message
    assert age_keys[1].recipient in message
    assert PLAINTEXT not in message
    assert age_keys[1].identity not in message


def test_a_tampered_file_fails_its_mac(
    artifact: Path, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> None:
    path = artifact / "apps/base/db.env"
    lines = path.read_text().splitlines(keepends=True)
    user = next(i for i, line in enumerate(lines) if line.startswith("DB_USER="))
    password = next(i for i, line in enumerate(lines) if line.startswith("DB_PASSWORD="))
    lines[user] = "DB_USER=" + lines[password].partition("=")[2]
    path.write_text("".join(lines))
    keyring = _keyring(age_keys[0], pgp_keys[0])
    with pytest.raises(sops.MacMismatch, match=r"^apps/base/db\.env: ") as caught:
        build.build(artifact, "apps/prod", Overlay(), allow_remote_bases=False, keyring=keyring)
    assert PLAINTEXT not in str(caught.value)


def test_a_base_reached_through_a_symlink(
    artifact: Path, age_keys: list[AgeKey], pgp_keys: list[PgpKey]
) -> None:
    os.rename(artifact / "apps/base", artifact / "apps/base-real")
    os.symlink("base-real", artifact / "apps/base")
    keyring = _keyring(age_keys[0], pgp_keys[0])
    objects = build.build(
        artifact, "apps/prod", Overlay(), allow_remote_bases=False, keyring=keyring
    )
    assert _secret(objects, "db-")["DB_PASSWORD"] == PLAINTEXT


def test_an_encrypted_patch(tmp_path: Path, sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    root = tmp_path / "artifact"
    write(
        root,
        "app/cm.yaml",
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: app}
        data: {mode: plain}
        """,
    )
    patch = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  mode: patched\n"
    args = ["--encrypted-regex", "^data$"]
    encrypted = sops_cli.encrypt(patch, "patch.yaml", age=[age_keys[0].recipient], args=args)
    _put(root, "app/patch.yaml", encrypted)
    write(root, "app/kustomization.yaml", "resources: [cm.yaml]\npatches:\n  - path: patch.yaml\n")
    keyring = age_keyring(age_keys[0])
    objects = build.build(root, "app", Overlay(), allow_remote_bases=False, keyring=keyring)
    assert _configmap(objects) == {"mode": "patched"}


def test_generated_secret_data_holding_a_sops_file(sops_cli: Sops, age_keys: list[AgeKey]) -> None:
    """A Secret whose data value is a whole sops file (from a generator the build could
    not decrypt first) is decrypted after the build, into the format of its key."""
    encrypted = sops_cli.encrypt(DOTENV, "db.env", age=[age_keys[0].recipient])
    data = {
        "db.env": base64.b64encode(encrypted).decode(),
        "other": base64.b64encode(b"plain").decode(),
    }
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "apps"},
        "data": data,
    }
    decryption = api.Decryption.model_validate({"provider": "sops", "secretRef": {"name": "k"}})
    (out,) = pipeline._decrypt(decryption, age_keyring(age_keys[0]), [secret])
    assert base64.b64decode(out["data"]["db.env"]).decode() == DOTENV
    assert out["data"]["other"] == data["other"]
    with pytest.raises(pipeline.RenderError) as caught:
        pipeline._decrypt(decryption, age_keyring(age_keys[1]), [secret])
    assert caught.value.reason == pipeline.DECRYPTION_FAILED
    assert "Secret/apps/db data 'db.env'" in str(caught.value)


def test_pgp_keyring_alone(artifact: Path, pgp_keys: list[PgpKey]) -> None:
    """Only the overlay's file is encrypted for PGP: with the PGP key alone, the base's
    age-encrypted files stop the build; the first one read (files before envs, as Flux
    reads them) is named."""
    with pytest.raises(sops.NoMatchingKey, match=r"^apps/base/settings\.enc\.json: "):
        build.build(
            artifact,
            "apps/prod",
            Overlay(),
            allow_remote_bases=False,
            keyring=pgp_keyring(pgp_keys[0]),
        )


def test_one_gnupg_home_per_session(sops_pgp: Sops, pgp_keys: list[PgpKey]) -> None:
    """PGP keys are imported once for all the files of a build, not once per file."""
    keyring = pgp_keyring(pgp_keys[0])
    files = [
        sops_pgp.encrypt(f"K{i}=v{i}\n", f"f{i}.env", pgp=[pgp_keys[0].fingerprint])
        for i in range(3)
    ]
    homes: list[str] = []  # where gpg imported keys, in order

    def imports(argv: Sequence[str]) -> Sequence[str]:
        if Path(argv[0]).name == "gpg" and argv[-1] == "--import":
            homes.append(argv[argv.index("--homedir") + 1])
        return argv

    with proc.substituted(imports):
        with keyring.session():
            plain = [sops.decrypt_file(f, "dotenv", keyring, source="f.env") for f in files]
        assert plain == [f"K{i}=v{i}\n".encode() for i in range(3)]
        assert len(set(homes)) == 1
        sops.decrypt_file(files[0], "dotenv", keyring, source="f.env")
    assert len(set(homes)) == 2


def test_a_generator_file_that_is_a_symlink(
    tmp_path: Path, sops_cli: Sops, age_keys: list[AgeKey]
) -> None:
    root = tmp_path / "artifact"
    _put(root, "shared/db.env", sops_cli.encrypt(DOTENV, "db.env", age=[age_keys[0].recipient]))
    write(root, "app/kustomization.yaml", "secretGenerator:\n  - name: db\n    envs: [db.env]\n")
    os.symlink("../shared/db.env", root / "app/db.env")
    before = snapshot(root)
    keyring = age_keyring(age_keys[0])
    objects = build.build(root, "app", Overlay(), allow_remote_bases=False, keyring=keyring)
    assert _secret(objects, "db-")["DB_PASSWORD"] == PLAINTEXT
    assert snapshot(root) == before
