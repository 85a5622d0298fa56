"""The site's evidence key: one Ed25519 key pair per site, made once under the data directory.

``<data_dir>/keys/evidence_ed25519.pem`` holds the private key (PKCS#8 PEM, mode 0600, in a 0700
folder, never served by the API) and ``evidence_ed25519.pub.pem`` the public key, which the API
serves at ``GET /evidence/public-key`` and every bundle carries a copy of. The key is made the
first time anything needs it, without overwriting: two processes racing to make it both end up
with the one that landed first (written to a private temp file, then hard-linked into place).

Signatures come from the ``cryptography`` package (no hand-written crypto); a key's fingerprint
is ``sha256:`` + the SHA-256 of its raw 32 public bytes, which is what manifests name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vigil.core.errors import VigilError

KEY_DIR = "keys"
PRIVATE_NAME = "evidence_ed25519.pem"
PUBLIC_NAME = "evidence_ed25519.pub.pem"


class SigningError(VigilError):
    """A key file cannot be read as an Ed25519 key, or the key folder cannot be written."""


def canonical_json(value: Any) -> bytes:
    """The one byte form of a JSON document that is signed: keys sorted, indented, UTF-8, newline.

    Raises:
        ValueError: `value` holds NaN or infinity (JSON has no such numbers).
    """
    text = json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode()


def fingerprint(key: Ed25519PublicKey) -> str:
    """``sha256:<hex>`` of the key's raw public bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def public_pem(key: Ed25519PublicKey) -> bytes:
    """The key as SubjectPublicKeyInfo PEM (what ``openssl pkey -pubin`` reads)."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes, source: str = "public key") -> Ed25519PublicKey:
    """Read a PEM public key.

    Raises:
        SigningError: Not PEM, or a key of another kind (the message names `source`).
    """
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as error:
        raise SigningError(
            f"{source}: expected an Ed25519 public key in PEM, could not read it ({error})"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{source}: expected an Ed25519 public key, got {type(key).__name__}")
    return key


def verify_signature(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether `signature` is `key`'s Ed25519 signature over `data`."""
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class SiteKey:
    """The site's signing key pair (`load_or_create` it from the data directory)."""

    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature over `data`."""
        return self.private.sign(data)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> SiteKey:
        """The key under ``<data_dir>/keys``, made there first if there is none.

        Raises:
            SigningError: The private key file exists but is not an Ed25519 key, or is readable
                by others than its owner.
        """
        folder = Path(data_dir) / KEY_DIR
        path = folder / PRIVATE_NAME
        if not path.exists():
            _create(folder)
        if path.stat().st_mode & 0o077:
            raise SigningError(f"{path}: the evidence private key must be owner-only (chmod 600), it is not")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as error:
            raise SigningError(f"{path}: expected an Ed25519 private key in PEM ({error})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningError(f"{path}: expected an Ed25519 private key, got {type(key).__name__}")
        site_key = cls(key)
        public = folder / PUBLIC_NAME
        if not public.exists() or public.read_bytes() != public_pem(site_key.public):
            _write_atomic(public, public_pem(site_key.public), 0o644)
        return site_key


def read_site_public_key(data_dir: Path) -> Ed25519PublicKey | None:
    """The site's public key if it was made, without touching the private key."""
    path = Path(data_dir) / KEY_DIR / PUBLIC_NAME
    return load_public_key(path.read_bytes(), str(path)) if path.is_file() else None


def _create(folder: Path) -> None:
    """Make a new key pair unless another process gets there first (then theirs stands)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{PRIVATE_NAME}.")  # owner-only from birth
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, folder / PRIVATE_NAME)  # never replaces a key already there
    finally:
        temp.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(name, mode)
    os.replace(name, path)
