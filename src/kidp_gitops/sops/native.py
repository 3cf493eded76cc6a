"""SOPS decryption in-process, for files written by the real ``sops`` CLI.

The Kustomization controller decrypts what `spec.decryption.secretRef` unlocks: a
:class:`Keyring` built from that Secret's data (``*.agekey`` entries hold age identities,
``*.asc`` entries armored PGP private keys, as Flux reads them), then
:func:`decrypt_document` for parsed objects and :func:`decrypt_file` for the files a
secretGenerator reads. Both recover the data key from the ``sops`` metadata (age first,
then PGP; Shamir key groups are combined), decrypt each AES-256-GCM value with its key path
as additional data, and check the MAC that sops keeps over the whole tree.

Errors, caught by layer::

    DecryptionError          anything below; ``source`` names the file or object
    ├── NoMatchingKey        no key in the keyring opens the data key (names both sides)
    ├── MacMismatch          a value or the MAC fails authentication, or the tree changed
    ├── MalformedSopsFile    not a sops file sops could have written
    └── KeyringError         an entry of the decryption Secret cannot be used

Messages name files, key paths, age recipients and PGP fingerprints; never a decrypted
value, the data key or a private key. Every call is synchronous and CPU-bound (PGP runs
``gpg`` in a throwaway GNUPGHOME, one per call or one per ``Keyring.session()``), so
async callers use ``asyncio.to_thread``. The ciphers (pyrage, cryptography) are loaded
by the first call that needs them, not on import: every engine process imports this
module to tell encrypted objects apart (`is_encrypted`), few ever decrypt, and the two
libraries are 7.5 MiB of a process's memory.
The file formats themselves live in :mod:`kidp_gitops.sops.fileformat`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kidp_gitops.goyaml import scalars
from kidp_gitops.proc.run import Finished, TimedOut, run_sync
from kidp_gitops.sops import fileformat
from kidp_gitops.sops.fileformat import Branch, FileFormat

AGE_KEY_SUFFIX = ".agekey"
PGP_KEY_SUFFIX = ".asc"
GPG_TIMEOUT_SECONDS = 30.0
# Written into the MAC before any value when mac_only_encrypted is set: sha256(b"sops").
_MAC_ONLY_ENCRYPTED_INIT = hashlib.sha256(b"sops").digest()


class DecryptionError(Exception):
    """A SOPS file or object could not be decrypted; ``source`` names it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source


class NoMatchingKey(DecryptionError):
    """None of the keyring's keys opens the data key."""

    def __init__(self, source: str, message: str, *, recipients: Sequence[str]) -> None:
        super().__init__(source, message)
        self.recipients = tuple(recipients)


class MacMismatch(DecryptionError):
    """A value or the MAC fails authentication: the file changed after sops wrote it."""


class MalformedSopsFile(DecryptionError):
    """The input is not a sops file that sops could have written."""


class KeyringError(DecryptionError):
    """An entry of the decryption Secret holds no usable key (``source`` is its name)."""


# --- the keyring ------------------------------------------------------------------------


@dataclass(frozen=True)
class _AgeIdentity:
    recipient: str
    identity: Any = field(repr=False, compare=False)


@dataclass(frozen=True)
class _PgpKey:
    fingerprint: str  # the primary key's
    fingerprints: tuple[str, ...]  # primary and subkeys, for matching
    armored: bytes = field(repr=False, compare=False)


class Keyring:
    """The private keys one Kustomization may decrypt with; its repr shows public parts only."""

    __slots__ = ("_age", "_pgp", "_session", "revealed")

    def __init__(self, age: Sequence[_AgeIdentity] = (), pgp: Sequence[_PgpKey] = ()) -> None:
        self._age = tuple(age)
        self._pgp = tuple(pgp)
        self._session: _KeyOpener | None = None
        self.revealed: list[str] = []
        """Every value decrypted with these keys, whatever kind of object or file it
        went into: the caller masks them wherever a message could show them."""

    @contextlib.contextmanager
    def session(self) -> Iterator[Keyring]:
        """Decrypt many files in one go: within it, PGP keys are imported into one
        throwaway GNUPGHOME once, rather than once per file. Not for concurrent use."""
        if self._session is not None:
            yield self
            return
        with contextlib.ExitStack() as stack:
            self._session = _KeyOpener(self, stack)
            try:
                yield self
            finally:
                self._session = None

    @classmethod
    def from_secret_data(cls, data: Mapping[str, bytes | str]) -> Keyring:
        """Read a decryption Secret's (base64-decoded) data; other entries are ignored."""
        age: list[_AgeIdentity] = []
        pgp: list[_PgpKey] = []
        for name in sorted(data):
            raw = data[name]
            value = raw.encode() if isinstance(raw, str) else bytes(raw)
            if name.endswith(AGE_KEY_SUFFIX):
                age.extend(_parse_age_keys(value, name))
            elif name.endswith(PGP_KEY_SUFFIX):
                pgp.extend(_parse_pgp_keys(value, name))
        return cls(age, pgp)

    @property
    def age_recipients(self) -> tuple[str, ...]:
        return tuple(i.recipient for i in self._age)

    @property
    def pgp_fingerprints(self) -> tuple[str, ...]:
        return tuple(k.fingerprint for k in self._pgp)

    def age_identities(self) -> list[str]:
        """The age private keys, as text: only for handing them to the sops program."""
        return [str(i.identity) for i in self._age]

    def pgp_armored(self) -> list[bytes]:
        """The armored PGP private keys: only for importing them into a GNUPGHOME."""
        return list({k.armored: None for k in self._pgp})

    def describe(self) -> str:
        names = [f"age {r}" for r in self.age_recipients]
        names += [f"PGP {f}" for f in self.pgp_fingerprints]
        return ", ".join(names) if names else "no age or PGP keys"

    def __repr__(self) -> str:
        return f"Keyring({self.describe()})"


def _pyrage() -> Any:
    """pyrage, loaded by the first age key or payload (the module docstring says why)."""
    import pyrage  # type: ignore[import-untyped]

    return pyrage


def _parse_age_keys(data: bytes, name: str) -> list[_AgeIdentity]:
    """An age key file: one identity per line; blank lines and ``#`` comments are skipped."""
    identities = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyringError(name, "is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("AGE-PLUGIN-"):
            raise KeyringError(name, f"line {number} is an age plugin identity (not supported)")
        try:
            identity = _pyrage().x25519.Identity.from_str(line)
        except Exception:  # pyrage raises its own IdentityError; the line is never echoed
            raise KeyringError(name, f"line {number} is not an age identity") from None
        identities.append(_AgeIdentity(str(identity.to_public()), identity))
    if not identities:
        raise KeyringError(name, "holds no age identity")
    return identities


def _gpg_program() -> str:
    program = shutil.which("gpg")
    if program is None:
        raise FileNotFoundError("gpg")
    return program


@contextlib.contextmanager
def _gnupg_home() -> Iterator[str]:
    """A fresh GNUPGHOME (0700); its agent is stopped and the directory removed on exit."""
    home = tempfile.mkdtemp(prefix="kidp-gnupg-")
    try:
        os.chmod(home, 0o700)
        yield home
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            with contextlib.suppress(OSError, TimedOut):
                run_sync(
                    [gpgconf, "--homedir", home, "--kill", "gpg-agent"],
                    env=_gpg_env(home),
                    timeout=GPG_TIMEOUT_SECONDS,
                )
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def gnupg_home(keys: Sequence[bytes]) -> Iterator[str]:
    """A throwaway GNUPGHOME holding the armored private `keys`."""
    with _gnupg_home() as home:
        for key in keys:
            _gpg(home, ["--import"], key)
        yield home


def _gpg_env(home: str) -> dict[str, str]:
    return {"GNUPGHOME": home, "PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}


def _gpg(home: str, args: Sequence[str], stdin: bytes) -> Finished:
    command = [_gpg_program(), "--homedir", home, "--batch", "--no-tty", "--quiet", *args]
    return run_sync(command, env=_gpg_env(home), stdin=stdin, timeout=GPG_TIMEOUT_SECONDS)


def _parse_pgp_keys(data: bytes, name: str) -> list[_PgpKey]:
    """The secret keys of an armored key block, with their fingerprints (read by gpg)."""
    try:
        with _gnupg_home() as home:
            shown = _gpg(home, ["--with-colons", "--import-options", "show-only", "--import"], data)
    except FileNotFoundError:
        raise KeyringError(name, "is a PGP key, but gpg is not installed") from None
    except TimedOut:
        raise KeyringError(name, "gpg did not read the PGP key in time") from None
    keys: list[_PgpKey] = []
    primary: list[str] = []
    secret = False
    for line in shown.stdout.decode("utf-8", "replace").splitlines():
        record = line.split(":")
        if record[0] in ("sec", "pub"):
            if primary and secret:
                keys.append(_PgpKey(primary[0], tuple(primary), data))
            primary, secret = [], record[0] == "sec"
        elif record[0] == "fpr" and len(record) > 9:
            primary.append(record[9].upper())
    if primary and secret:
        keys.append(_PgpKey(primary[0], tuple(primary), data))
    if shown.code != 0 or not keys:
        raise KeyringError(name, "holds no armored PGP secret key gpg can read")
    return keys


# --- the data key -----------------------------------------------------------------------

_AGE_ARMOR = re.compile(
    r"-----BEGIN AGE ENCRYPTED FILE-----(.*?)-----END AGE ENCRYPTED FILE-----", re.DOTALL
)


def _open_age(slot: fileformat.KeySlot, keyring: Keyring) -> bytes | None:
    if not keyring._age:
        return None
    armored = _AGE_ARMOR.search(slot.enc)
    if armored is None:
        return None
    try:
        payload = base64.b64decode("".join(armored.group(1).split()), validate=True)
    except binascii.Error:
        return None
    try:
        opened = _pyrage().decrypt(payload, [i.identity for i in keyring._age])
    except Exception:  # pyrage.DecryptError: no identity matches, or a malformed header
        return None
    return bytes(opened)


class _KeyOpener:
    """Tries a file's key slots: age in-process, PGP through one throwaway GNUPGHOME."""

    def __init__(self, keyring: Keyring, stack: contextlib.ExitStack) -> None:
        self._keyring = keyring
        self._stack = stack
        self._home: str | None = None

    def _gnupg(self) -> str:
        if self._home is None:
            self._home = self._stack.enter_context(gnupg_home(self._keyring.pgp_armored()))
        return self._home

    def _open_pgp(self, slot: fileformat.KeySlot) -> bytes | None:
        if not self._keyring._pgp:
            return None
        args = ["--pinentry-mode", "loopback", "--passphrase", "", "--decrypt"]
        try:
            done = _gpg(self._gnupg(), args, slot.enc.encode())
        except (FileNotFoundError, TimedOut):
            return None
        return done.stdout if done.code == 0 and done.stdout else None

    def open_group(self, group: Sequence[fileformat.KeySlot]) -> bytes | None:
        ordered = [s for s in group if s.kind == "age"] + [s for s in group if s.kind == "pgp"]
        for slot in ordered:
            opened = _open_age(slot, self._keyring) if slot.kind == "age" else self._open_pgp(slot)
            if opened is not None:
                return opened
        return None


def _gf_mul(a: int, b: int) -> int:
    """Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1, as sops' Shamir uses."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


def _gf_inverse(a: int) -> int:
    result, power, exponent = 1, a, 254
    while exponent:
        if exponent & 1:
            result = _gf_mul(result, power)
        power = _gf_mul(power, power)
        exponent >>= 1
    return result


def _shamir_combine(parts: Sequence[bytes]) -> bytes:
    """The secret behind Shamir shares whose last byte is their x coordinate."""
    xs = [part[-1] for part in parts]
    if len(set(xs)) != len(xs) or len({len(p) for p in parts}) != 1 or 0 in xs:
        raise ValueError("inconsistent Shamir shares")
    bases = []
    for i, xi in enumerate(xs):
        basis = 1
        for j, xj in enumerate(xs):
            if i != j:
                basis = _gf_mul(basis, _gf_mul(xj, _gf_inverse(xi ^ xj)))
        bases.append(basis)
    secret = bytearray()
    for index in range(len(parts[0]) - 1):
        byte = 0
        for part, basis in zip(parts, bases, strict=True):
            byte ^= _gf_mul(part[index], basis)
        secret.append(byte)
    return bytes(secret)


def _data_key(metadata: fileformat.Metadata, keyring: Keyring, source: str) -> bytes:
    groups = metadata.key_groups
    with contextlib.ExitStack() as stack:
        opener = keyring._session or _KeyOpener(keyring, stack)
        parts = [p for p in (opener.open_group(g) for g in groups) if p is not None]
    key: bytes | None = None
    if len(groups) == 1 and parts:
        key = parts[0]
    elif len(groups) > 1 and len(parts) >= (metadata.shamir_threshold or len(groups)):
        try:
            key = _shamir_combine(parts)
        except ValueError:
            raise MalformedSopsFile(source, "its Shamir key shares do not combine") from None
    if key is None:
        recipients = [slot.describe() for slot in metadata.slots]
        quorum = ""
        if len(groups) > 1:
            need = metadata.shamir_threshold or len(groups)
            quorum = f" ({len(parts)} of the {need} key groups needed could be opened)"
        raise NoMatchingKey(
            source,
            f"no decryption key opens it{quorum}: it is encrypted for {', '.join(recipients)};"
            f" the decryption keys are {keyring.describe()}",
            recipients=recipients,
        )
    if len(key) != 32:
        raise MalformedSopsFile(source, "its data key is not 256 bits long")
    return key


# --- values and the tree ------------------------------------------------------------------


def _typed(plain: bytes, kind: str) -> Any:
    """The plaintext as the value sops encrypted (its ``type:``); ``None`` when it is not."""
    if kind == "bytes":
        return plain
    text = plain.decode("utf-8", "surrogateescape")
    if kind == "str":
        return text
    if kind in ("int", "int64"):
        return scalars.atoi(text)
    if kind == "float":
        return scalars.parse_float(text)
    if kind == "bool":
        return scalars.parse_bool(text)
    if kind == "time":
        return scalars.parse_timestamp(text, strict=True)
    return None


def _mac_bytes(value: Any) -> bytes | None:
    """The bytes sops feeds the MAC for a value (Go's ToBytes); ``None`` for an unknown type."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return fileformat.go_float(value).encode()
    if isinstance(value, date):
        return fileformat.go_time_text(value).encode()
    return None


class _TreeDecryptor:
    """Walks a tree as sops does: keys in order, list items under their parent's path."""

    def __init__(
        self, metadata: fileformat.Metadata, key: bytes, source: str, revealed: list[str]
    ) -> None:
        self._metadata = metadata
        self._revealed = revealed
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._cipher = AESGCM(key)
        self._source = source
        self.mac = hashlib.sha512()
        if metadata.mac_only_encrypted:
            self.mac.update(_MAC_ONLY_ENCRYPTED_INIT)

    def open(self, text: str, additional_data: str, what: str) -> Any:
        from cryptography.exceptions import InvalidTag

        try:
            value = fileformat.EncryptedValue.parse(text)
        except fileformat.FormatError as err:
            raise MalformedSopsFile(self._source, f"{what}: {err}") from None
        if len(value.tag) != 16 or not value.iv:
            raise MacMismatch(
                self._source, f"{what} fails authentication (changed after sops encrypted it)"
            )
        try:
            plain = self._cipher.decrypt(
                value.iv, value.ciphertext + value.tag, additional_data.encode()
            )
        except (InvalidTag, ValueError):
            raise MacMismatch(
                self._source, f"{what} fails authentication (changed after sops encrypted it)"
            ) from None
        typed = _typed(plain, value.type)
        if typed is None:
            raise MalformedSopsFile(self._source, f"{what} does not hold a {value.type} value")
        if value.type in ("str", "bytes"):
            self._revealed.append(plain.decode("utf-8", "replace"))
        return typed

    def walk(self, node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            out: Branch = {}
            for key, child in node.items():
                if not isinstance(key, str):
                    where = ":".join(path) or "the top level"
                    raise MalformedSopsFile(self._source, f"a key under {where} is not a string")
                out[key] = self.walk(child, (*path, key))
            return out
        if isinstance(node, list):
            return [self.walk(item, path) for item in node]
        if node is None:
            return None
        return self._leaf(node, path)

    def _leaf(self, value: Any, path: tuple[str, ...]) -> Any:
        where = ":".join(path)
        encrypted = self._metadata.should_encrypt(path)
        if self._metadata.comment_rules:
            # Comment rules decide by comments this reader drops; a value's form tells,
            # and the MAC still covers every value, so a swap cannot pass unnoticed.
            encrypted = fileformat.looks_encrypted(value)
        if encrypted and value != "":
            if not isinstance(value, str):
                raise MalformedSopsFile(self._source, f"the value at {where} is not encrypted")
            value = self.open(value, where + ":", f"the value at {where}")
        if encrypted or not self._metadata.mac_only_encrypted:
            data = _mac_bytes(value)
            if data is None:
                raise MalformedSopsFile(self._source, f"the value at {where} has an unknown type")
            self.mac.update(data)
        return value


def _decrypt_tree(
    branches: list[Branch], metadata: Any, keyring: Keyring, source: str, verify_mac: bool
) -> list[Branch]:
    try:
        parsed = fileformat.parse_metadata(metadata)
    except fileformat.FormatError as err:
        raise MalformedSopsFile(source, str(err)) from None
    key = _data_key(parsed, keyring, source)
    tree = _TreeDecryptor(parsed, key, source, keyring.revealed)
    plain = [tree.walk(branch, ()) for branch in branches]
    if verify_mac:
        computed = tree.mac.hexdigest().upper()
        if not parsed.mac:
            raise MacMismatch(source, "it has no MAC to check its content against")
        stored = tree.open(parsed.mac, parsed.last_modified, "its MAC")
        if not isinstance(stored, str) or not hmac.compare_digest(stored, computed):
            raise MacMismatch(source, "its MAC does not match its content (changed after sops)")
    return plain


# --- the public face ----------------------------------------------------------------------


def is_encrypted(doc: Mapping[str, Any]) -> bool:
    """Whether a parsed document carries sops metadata with a MAC (Flux's test)."""
    metadata = doc.get("sops")
    return isinstance(metadata, Mapping) and bool(metadata.get("mac"))


def decrypt_document(
    doc: Mapping[str, Any], keyring: Keyring, *, source: str, verify_mac: bool = True
) -> dict[str, Any]:
    """A decrypted copy of a sops-encrypted YAML/JSON document, without its ``sops`` block.

    Values come back typed as sops wrote them (str, int, float, bool, empty, and
    :class:`~kidp_gitops.goyaml.scalars.Timestamp`). The MAC covers every value in
    order, so a document that kustomize changed after encryption (a namespace, labels,
    a name prefix) fails it unless the file was encrypted with ``mac_only_encrypted``;
    Flux does not check the MAC of built objects, which ``verify_mac=False`` matches.
    """
    if not isinstance(doc.get("sops"), Mapping):
        raise MalformedSopsFile(source, "it has no sops metadata")
    branch = {k: v for k, v in doc.items() if k != "sops"}
    (plain,) = _decrypt_tree([branch], doc["sops"], keyring, source, verify_mac)
    return plain


def decrypt_file(
    data: bytes,
    format: FileFormat,
    keyring: Keyring,
    *,
    source: str,
    verify_mac: bool = True,
    output: FileFormat | None = None,
) -> bytes:
    """The plaintext of a file sops encrypted in ``format``, written in ``output`` (by
    default the same format), as ``sops --decrypt --output-type`` would write it.

    For ``binary`` that is the original bytes; for the structured formats the content is
    the same, comments are dropped and layout follows sops' own ``--decrypt`` output.
    """
    try:
        parsed = fileformat.load_file(data, format)
    except fileformat.FormatError as err:
        raise MalformedSopsFile(source, f"not a sops {format} file: {err}") from None
    plain = _decrypt_tree(parsed.branches, parsed.metadata, keyring, source, verify_mac)
    try:
        return fileformat.dump_file(plain, output or format)
    except fileformat.FormatError as err:
        raise MalformedSopsFile(source, str(err)) from None
