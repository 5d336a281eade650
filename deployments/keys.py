"""The tenant's deploy key pair: ed25519, generated here, the private half encrypted at rest
with the vault that keeps tenant secrets (`orchestration.vault`)."""
from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deployments import remote
from orchestration import vault


def generate(comment: str) -> tuple[str, str, str]:
    """(public key line, SHA256 fingerprint, encrypted OpenSSH private key)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    fingerprint = remote.fingerprint(base64.b64decode(public.split()[1]))
    return f"{public} {comment}", fingerprint, vault.encrypt(private)


def private_key(encrypted: str) -> str:
    """The OpenSSH private key text; raises `vault.SecretUnreadable` if the key changed."""
    return vault.decrypt(encrypted)
