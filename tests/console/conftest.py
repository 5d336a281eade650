import pytest
from django.test import Client

from tests.console.factories import StaffFactory


@pytest.fixture
def superuser(db):
    return StaffFactory(is_superuser=True, email="root@example.com")


@pytest.fixture
def admin_site_client(superuser) -> Client:
    """The Django test client, signed in to the admin as a superuser."""
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    return client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Seeding dozens of users must not cost a PBKDF2 run each; hashing is Django's concern."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
