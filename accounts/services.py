"""Writes of the accounts app: registration, sessions, e-mail flows, tokens, status changes.

Called alike by the API views, the admin and Celery tasks. Security-relevant changes are
audited through `core.audit.audit_record`.

Password hashing and checking (hundreds of milliseconds by design) happen before the write
transaction opens: on the embedded SQLite a transaction holds the database's one write lock
from its first statement, so every other writer of the web process, the worker and beat would
wait for the hash (docs/reliability.md, section 16).
"""
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, ValidationError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts import signals, tokens
from accounts.addresses import normalize_email
from accounts.models import SESSION_VERSION_CLAIM, PersonalAccessToken, User
from core.api.exceptions import EmailNotVerified
from core.audit import audit_record
from notifications.services import email_send, public_url

INVALID_LOGIN = "Invalid e-mail or password."
# A password hash to check against when the e-mail is unknown, so timing does not tell.
_DUMMY_USER = User(email="nobody@invalid")


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)})


# --- Registration and verification ----------------------------------------------------------
def _send_verification(user: User) -> None:
    from accounts.tasks import send_verification_email  # tasks import this module

    user_id = str(user.pk)
    transaction.on_commit(lambda: send_verification_email.delay(user_id=user_id))


def verification_email_send(*, user_id: str) -> None:
    """Worker side: mail a fresh verification link if the address still needs verifying."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or user.verification_status != User.Verification.NOT_VERIFIED:
        return
    token = tokens.make_verification_token(user)
    email_send(
        template="verify_email",
        to=user.email,
        context={
            "name": user.name or user.email,
            "link": public_url(f"auth/verify-email?token={token}"),
            "token": token,
        },
    )


def user_register(*, email: str, password: str, name: str = "") -> User:
    email = normalize_email(email)
    taken = ValidationError({"email": ["An account with this e-mail address already exists."]})
    if User.objects.filter(email=email).exists():
        raise taken
    user = User(email=email, name=name, verification_status=User.Verification.NOT_VERIFIED)
    _validate_password(password, user)
    user.set_password(password)  # slow: before the transaction
    try:
        with transaction.atomic():
            if User.objects.filter(email=email).exists():  # registered while we hashed
                raise taken
            user.save()
            _send_verification(user)
    except IntegrityError:  # a concurrent registration of the same address won
        raise taken
    return user


@transaction.atomic
def user_verify_email(*, token: str) -> User:
    user = tokens.read_verification_token(token)
    if user is None:
        raise ValidationError({"token": ["This verification link is invalid or has expired."]})
    if user.verification_status == User.Verification.NOT_VERIFIED:
        user.verification_status = User.Verification.VERIFIED
        user.save(update_fields=["verification_status", "updated_at"])
        audit_record(action="user.verify_email", target=user, actor=user)
    return user


# --- Sessions (JWT) ---------------------------------------------------------------------------
def _session_payload(refresh: RefreshToken) -> dict:
    return {
        "access": str(refresh.access_token),
        "refresh": str(refresh),
        "token_type": "Bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def session_issue(*, user: User) -> dict:
    """A new access/refresh pair; the refresh token is recorded as outstanding. Both carry the
    account's session version (the access token copies the refresh token's claims)."""
    refresh = RefreshToken.for_user(user)
    refresh[SESSION_VERSION_CLAIM] = user.session_version
    return _session_payload(refresh)


def user_login(*, email: str, password: str) -> dict:
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        _DUMMY_USER.set_password(password)  # spend the same hashing time as a real check
        raise AuthenticationFailed(INVALID_LOGIN)
    if not user.check_password(password):  # slow: no transaction is open
        raise AuthenticationFailed(INVALID_LOGIN)
    # Only someone who knows the password learns why an account is refused.
    if not user.is_active:
        raise AuthenticationFailed("This account is not active.")
    if settings.REQUIRE_EMAIL_VERIFICATION and not user.is_email_verified:
        raise EmailNotVerified()
    with transaction.atomic():
        user.last_login = timezone.now()
        User.objects.filter(pk=user.pk).update(last_login=user.last_login)
        return session_issue(user=user)


def _decode_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)  # signature, expiry, type and blacklist
    except TokenError as exc:
        raise AuthenticationFailed("Invalid, expired or revoked refresh token.") from exc


def _blacklist_once(refresh: RefreshToken) -> None:
    """Kill the token; the unique row makes a second (concurrent) use fail, not both succeed."""
    jti = refresh.payload[settings.SIMPLE_JWT.get("JTI_CLAIM", "jti")]
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=jti,
        defaults={
            "user_id": refresh.payload.get("user_id"),
            "token": str(refresh),
            "expires_at": datetime.fromtimestamp(refresh.payload["exp"], tz=UTC),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        raise AuthenticationFailed("Invalid, expired or revoked refresh token.")


def _session_user(refresh: RefreshToken) -> User:
    user = User.objects.filter(pk=refresh.payload.get("user_id")).first()
    if user is None or not user.is_active:
        raise AuthenticationFailed("This account is not active.")
    claim = settings.SIMPLE_JWT["REVOKE_TOKEN_CLAIM"]
    if refresh.payload.get(claim) != get_md5_hash_password(user.password):
        raise AuthenticationFailed("Invalid, expired or revoked refresh token.")
    return user


@transaction.atomic
def session_refresh(*, refresh: str) -> dict:
    """Rotate: the presented refresh token dies, a new pair is issued. Reuse answers 401."""
    token = _decode_refresh(refresh)
    user = _session_user(token)
    _blacklist_once(token)
    return session_issue(user=user)


@transaction.atomic
def session_logout(*, refresh: str) -> None:
    """The refresh token dies, and so does the access token issued with it: an access token is
    stateless until it expires, so the account's session version goes up and every access token
    carrying an older one is refused. Other sessions refresh once (their refresh tokens live on)
    and go on; that is the price of not looking a denylist up on every request."""
    token = _decode_refresh(refresh)
    _blacklist_once(token)
    user_id = token.payload.get("user_id")
    User.objects.filter(pk=user_id).update(session_version=F("session_version") + 1)
    signals.session_ended.send(sender=User, user_id=user_id)


def refresh_tokens_revoke_all(*, user: User) -> int:
    """Blacklist every outstanding refresh token of the user; returns how many died."""
    alive = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    rows = [BlacklistedToken(token=outstanding) for outstanding in alive]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def sessions_flush_expired() -> int:
    """Drop refresh-token bookkeeping past its expiry (their blacklist rows go with them):
    an expired token is refused by its own `exp`, so the rows only cost space."""
    deleted, _ = OutstandingToken.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


# --- Profile and passwords ------------------------------------------------------------------
@transaction.atomic
def user_update_profile(*, user: User, name: str) -> User:
    user.name = name
    user.save(update_fields=["name", "updated_at"])
    return user


def user_password_change(*, user: User, old_password: str, new_password: str) -> dict:
    """Sets the password, kills every refresh token (access tokens die with the old hash) and
    returns a fresh session so the caller stays signed in."""
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["The current password is wrong."]})
    new_hash = _hash_new_password(user=user, password=new_password, field="new_password")
    with transaction.atomic():
        if User.objects.filter(pk=user.pk).values_list("password", flat=True).first() != user.password:
            # Changed by someone else since we checked the old password: check again.
            raise ValidationError({"old_password": ["The current password is wrong."]})
        _store_password(user=user, new_hash=new_hash)
        audit_record(action="user.password_change", target=user, actor=user)
        return session_issue(user=user)  # after the revocation above, so this session lives


def _hash_new_password(*, user: User, password: str, field: str) -> str:
    """Validate and hash a new password (slow; call it before any transaction)."""
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError({field: list(exc.messages)})
    return make_password(password)


def _store_password(*, user: User, new_hash: str) -> None:
    """Access tokens die with the old hash; refresh tokens and personal access tokens are
    revoked: a new password is what one sets after a suspected compromise, and a token minted
    with the stolen session must not outlive it."""
    user.password = new_hash
    user.save(update_fields=["password", "updated_at"])
    _deactivate_credentials(user)


@transaction.atomic
def password_reset_request(*, email: str) -> None:
    """Sends a reset link if an active account has this address; silent otherwise."""
    from accounts.tasks import send_password_reset_email  # tasks import this module

    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None or not user.is_active:
        return
    user_id = str(user.pk)
    transaction.on_commit(lambda: send_password_reset_email.delay(user_id=user_id))


def password_reset_email_send(*, user_id: str) -> None:
    """Worker side: the reset token is made here, from the account's current state."""
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.is_active:
        return
    token = tokens.make_reset_token(user)
    email_send(
        template="password_reset",
        to=user.email,
        context={
            "name": user.name or user.email,
            "link": public_url(f"auth/password/reset?token={token}"),
            "token": token,
        },
    )


def password_reset_confirm(*, token: str, new_password: str) -> User:
    invalid = ValidationError({"token": ["This reset link is invalid, used or expired."]})
    user = tokens.read_reset_token(token)
    if user is None or not user.is_active:
        raise invalid
    new_hash = _hash_new_password(user=user, password=new_password, field="new_password")
    with transaction.atomic():
        # The token embeds the password hash: read again under the write lock, so of two
        # concurrent uses of one link only the first changes the password.
        user = tokens.read_reset_token(token, for_update=True)
        if user is None or not user.is_active:
            raise invalid
        _store_password(user=user, new_hash=new_hash)
        audit_record(action="user.password_reset", target=user, actor=user)
    return user


# --- Account status ---------------------------------------------------------------------------
def _check_staff_authority(*, actor, target: User | None = None, grants_staff: bool = False) -> None:
    """Staff privileges are a superuser's to give: only a superuser makes or unmakes staff, and
    only a superuser changes a superuser's account (an operator could lock every one out).
    `actor=None` is the system itself (management commands, data migrations)."""
    if actor is None or getattr(actor, "is_superuser", False):
        return
    if grants_staff:
        raise PermissionDenied("Only superusers grant or revoke staff status.")
    if target is not None and target.is_superuser and getattr(actor, "pk", None) != target.pk:
        raise PermissionDenied("Only superusers change a superuser's account.")


def _deactivate_credentials(user: User) -> None:
    refresh_tokens_revoke_all(user=user)
    user.personal_tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@transaction.atomic
def user_set_status(*, user: User, status: str, actor=None) -> User:
    """Block, unblock, deactivate or delete an account; leaving `active` kills its sessions."""
    if status not in User.Status.values:
        raise ValidationError({"status": [f"Unknown status {status!r}."]})
    user = User.objects.select_for_update().get(pk=user.pk)
    _check_staff_authority(actor=actor, target=user)
    before = user.status
    if before == status:
        return user
    if status == User.Status.DELETED:
        # The apps above may refuse (tenants: the user is a tenant's last owner) by raising.
        signals.user_deleting.send(sender=User, user=user)
    user.status = status
    user.save(update_fields=["status", "updated_at"])
    if status != User.Status.ACTIVE:
        refresh_tokens_revoke_all(user=user)
    if status == User.Status.DELETED:
        _deactivate_credentials(user)
    audit_record(action=f"user.status.{status}", target=user, actor=actor, changes={"status": [before, status]})
    return user


@transaction.atomic
def user_delete(*, user: User) -> User:
    """Soft delete of one's own account: it can no longer sign in."""
    return user_set_status(user=user, status=User.Status.DELETED, actor=user)


@transaction.atomic
def user_mark_verified(*, user: User, actor=None) -> User:
    if user.verification_status != User.Verification.VERIFIED:
        before = user.verification_status
        user.verification_status = User.Verification.VERIFIED
        user.save(update_fields=["verification_status", "updated_at"])
        audit_record(
            action="user.verify_email",
            target=user,
            actor=actor,
            changes={"verification_status": [before, user.verification_status]},
        )
    return user


def user_create(
    *,
    email: str,
    name: str = "",
    password: str | None = None,
    type: str = User.Type.HUMAN,  # noqa: A002 - the field's public name
    verification_status: str | None = None,
    is_staff: bool = False,
    status: str = User.Status.ACTIVE,
    actor=None,
) -> User:
    """Staff-created account; without a password it cannot sign in until a reset."""
    _check_staff_authority(actor=actor, grants_staff=is_staff)
    email = normalize_email(email)
    taken = ValidationError({"email": ["An account with this e-mail address already exists."]})
    if User.objects.filter(email=email).exists():
        raise taken
    if verification_status is None:
        verification_status = (
            User.Verification.NOT_REQUIRED if type == User.Type.SERVICE else User.Verification.NOT_VERIFIED
        )
    user = User(
        email=email, name=name, type=type, verification_status=verification_status, is_staff=is_staff, status=status
    )
    if password:
        _validate_password(password, user)
        user.set_password(password)  # slow: before the transaction
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            if User.objects.filter(email=email).exists():
                raise taken
            user.save()
            audit_record(
                action="user.create", target=user, actor=actor, changes={"email": email, "is_staff": is_staff}
            )
    except IntegrityError:
        raise taken
    return user


@transaction.atomic
def user_update(*, user: User, actor=None, **fields) -> User:
    """Staff edit: name, type, verification_status, is_staff, status (through `user_set_status`)."""
    status = fields.pop("status", None)
    allowed = {"name", "type", "verification_status", "is_staff"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({field: ["This field cannot be changed."] for field in unknown})
    changes = {k: [getattr(user, k), v] for k, v in fields.items() if getattr(user, k) != v}
    _check_staff_authority(actor=actor, target=user, grants_staff="is_staff" in changes)
    for field, value in fields.items():
        setattr(user, field, value)
    if changes:
        user.save(update_fields=[*changes, "updated_at"])
        if {"is_staff", "verification_status"} & set(changes):
            audit_record(action="user.update", target=user, actor=actor, changes=changes)
    if status is not None:
        user = user_set_status(user=user, status=status, actor=actor)
    return user


# --- Personal access tokens ----------------------------------------------------------------
@transaction.atomic
def personal_token_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[PersonalAccessToken, str]:
    """Returns the token row and its secret; the secret exists only in this return value."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["Must be in the future."]})
    token = PersonalAccessToken(user=user, name=name, expires_at=expires_at)
    raw = token.set_new_secret()
    token.save()
    audit_record(action="personal_token.create", target=token, actor=user, changes={"name": name})
    return token, raw


@transaction.atomic
def personal_token_revoke(*, token: PersonalAccessToken, actor=None) -> PersonalAccessToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(action="personal_token.revoke", target=token, actor=actor, changes={"name": token.name})
    return token


LAST_USED_GRANULARITY = timedelta(minutes=1)


def personal_token_touch(*, token: PersonalAccessToken, now: datetime) -> None:
    """Record use at most once a minute per token: a conditional update on the value we read,
    so concurrent requests (even across processes) write once and most requests write never."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_GRANULARITY:
        return
    PersonalAccessToken.objects.filter(pk=token.pk, last_used_at=token.last_used_at).update(last_used_at=now)
    token.last_used_at = now


