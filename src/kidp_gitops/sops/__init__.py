"""SOPS: decrypting what the real ``sops`` CLI encrypted.

The one interface every caller uses: a :class:`Keyring` built from a decryption
Secret's data, :func:`decrypt_document` for parsed objects, :func:`decrypt_file` for
files, :func:`is_encrypted`, and the errors under :class:`DecryptionError`. `native`
implements them in process (the engine's decryptor); `program` implements them with the
real sops binary (the tests' oracle); `fileformat` knows how sops lays out each format.
"""

from typing import Any, Protocol

from kidp_gitops.sops.fileformat import FileFormat
from kidp_gitops.sops.native import (
    DecryptionError,
    Keyring,
    KeyringError,
    MacMismatch,
    MalformedSopsFile,
    NoMatchingKey,
    decrypt_document,
    decrypt_file,
    is_encrypted,
)


class Decryptor(Protocol):
    """What `native` and `program.Program` both do."""

    def decrypt_file(
        self,
        data: bytes,
        format: FileFormat,
        keyring: Keyring,
        *,
        source: str,
        verify_mac: bool = True,
        output: FileFormat | None = None,
    ) -> bytes: ...

    def decrypt_document(
        self, doc: Any, keyring: Keyring, *, source: str, verify_mac: bool = True
    ) -> dict[str, Any]: ...


__all__ = [
    "DecryptionError",
    "Decryptor",
    "Keyring",
    "KeyringError",
    "MacMismatch",
    "MalformedSopsFile",
    "NoMatchingKey",
    "decrypt_document",
    "decrypt_file",
    "is_encrypted",
]
