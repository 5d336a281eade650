"""People and service users, and their personal access tokens (their e-mail preferences are
`notifications.NotificationPreference`)."""
import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower

from accounts.addresses import normalize_email
from core.credentials import CredentialModel

# The JWT claim carrying `User.session_version`: access tokens minted before the account's last
# logout carry an older number and are refused.
SESSION_VERSION_CLAIM = "sv"


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email):
        return normalize_email(email)

    def get_by_natural_key(self, email):
        # The admin's ModelBackend signs in through this: the same lookup as the API login.
        return self.get(email=normalize_email(email))

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        fields.setdefault("verification_status", User.Verification.VERIFIED)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    class Type(models.TextChoices):
        HUMAN = "human"
        SERVICE = "service"

    class Verification(models.TextChoices):
        VERIFIED = "verified"
        NOT_VERIFIED = "not_verified"
        BLOCKED = "blocked"
        NOT_REQUIRED = "not_required"

    class Status(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"
        BLOCKED = "blocked"
        DELETED = "deleted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=150, blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.HUMAN)
    verification_status = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.NOT_VERIFIED
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    is_staff = models.BooleanField(default=False, help_text="Can sign in to the admin and use /api/admin/.")
    session_version = models.PositiveIntegerField(
        default=0, editable=False, help_text="Raised by every logout; older access tokens stop working."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    @property
    def is_active(self) -> bool:
        """Only active accounts sign in (admin, JWT, tokens); the rest are refused everywhere."""
        return self.status == self.Status.ACTIVE

    @property
    def is_email_verified(self) -> bool:
        return self.verification_status in (self.Verification.VERIFIED, self.Verification.NOT_REQUIRED)

    def save(self, *args, **kwargs):
        # Stored normalised, so the unique column is the uniqueness of the normal form; the
        # lower-case constraint also guards rows written around the ORM.
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)


class PersonalAccessToken(CredentialModel):
    """A long-lived credential that acts as its user; only the digest of the secret is stored."""

    PREFIX = "gsp"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_tokens")

    class Meta:
        ordering = ["-created_at"]
