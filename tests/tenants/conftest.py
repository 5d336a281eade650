"""Fixtures of the tenants tests (the e-mail outbox and fast hashing come from the accounts tests)."""
from tests.accounts.conftest import _fast_password_hashing, outbox  # noqa: F401 - pytest fixtures
