"""Secret credentials as models: one implementation behind tenant API keys and personal tokens.

Format: `<prefix>_<public id>_<secret><checksum>`, e.g. `gsk_4fT9xQ2mLp0a_…`.
- the public id (12 base62 chars) finds the row without touching the secret;
- the secret is 32 base62 chars (~190 bits), so a fast keyed hash is enough: we store
  HMAC-SHA256 under a server-side pepper and compare digests in constant time;
- the 6-char CRC32 checksum lets scanners recognise a leaked key offline and lets us
  reject typos and forgeries before any lookup.
"""
import hashlib
import hmac
import secrets
import string
import uuid
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.utils import timezone

ALPHABET = string.digits + string.ascii_letters
PUBLIC_ID_LENGTH = 12
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(ALPHABET[rem])
    return "".join(reversed(chars))


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def digest(raw: str) -> str:
    return hmac.new(settings.CREDENTIAL_PEPPER.encode(), raw.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ParsedCredential:
    prefix: str
    public_id: str
    raw: str


def parse(raw: str) -> ParsedCredential | None:
    """Split a presented credential; None if it is not well-formed or its checksum is wrong."""
    parts = raw.split("_")
    if len(parts) != 3:
        return None
    prefix, public_id, tail = parts
    if len(public_id) != PUBLIC_ID_LENGTH or len(tail) != SECRET_LENGTH + CHECKSUM_LENGTH:
        return None
    body = f"{prefix}_{public_id}_{tail[:SECRET_LENGTH]}"
    if not hmac.compare_digest(_checksum(body), tail[SECRET_LENGTH:]):
        return None
    return ParsedCredential(prefix=prefix, public_id=public_id, raw=raw)


def generate(prefix: str) -> tuple[str, str]:
    """Return (public_id, full credential) for a new secret."""
    public_id = _random(PUBLIC_ID_LENGTH)
    body = f"{prefix}_{public_id}_{_random(SECRET_LENGTH)}"
    return public_id, body + _checksum(body)


class CredentialModel(models.Model):
    """Abstract base: public id + digest, expiry, revocation and last use; never the secret."""

    PREFIX = ""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    public_id = models.CharField(max_length=PUBLIC_ID_LENGTH, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def display_prefix(self) -> str:
        """What lists show instead of the secret."""
        return f"{self.PREFIX}_{self.public_id}"

    def set_new_secret(self) -> str:
        """Give the row a fresh public id and secret; returns the credential, shown once."""
        self.public_id, raw = generate(self.PREFIX)
        self.digest = digest(raw)
        return raw

    def matches(self, raw: str) -> bool:
        return hmac.compare_digest(self.digest, digest(raw))

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return not self.is_revoked and (self.expires_at is None or self.expires_at > now)
