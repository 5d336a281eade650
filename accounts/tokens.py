"""Stateless, signed tokens for the e-mail flows (verification and password reset).

Nothing is stored: a verification token signs the user id and the address it was sent to, so
it stops working if the address changes; a reset token is Django's password-reset token, which
embeds the password hash and last login, so it is single-use and dies with any password change.
"""
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import User

VERIFY_SALT = "accounts.verify-email"
VERIFY_MAX_AGE_SECONDS = 3 * 24 * 3600


def make_verification_token(user: User) -> str:
    return signing.dumps({"u": str(user.pk), "e": user.email}, salt=VERIFY_SALT, compress=True)


def read_verification_token(token: str) -> User | None:
    """The user the token was issued to, if it is genuine, fresh and still matches the address."""
    try:
        payload = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    user = User.objects.filter(pk=payload.get("u")).first()
    if user is None or user.email != payload.get("e"):
        return None
    return user


def make_reset_token(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"{uid}.{default_token_generator.make_token(user)}"


def read_reset_token(token: str, *, for_update: bool = False) -> User | None:
    """The user the token was made for, if it is genuine, fresh and unused. `for_update` locks
    the row (inside the caller's transaction) so a concurrent use of the same token waits."""
    uid, _, secret = (token or "").partition(".")
    users = User.objects.select_for_update() if for_update else User.objects
    try:
        user_id = force_str(urlsafe_base64_decode(uid))
        user = users.filter(pk=user_id).first()
    except (ValueError, TypeError, UnicodeDecodeError, ValidationError):  # not a UUID
        return None
    if user is None or not default_token_generator.check_token(user, secret):
        return None
    return user
