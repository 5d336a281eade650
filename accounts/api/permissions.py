"""Permissions of the accounts API."""
from rest_framework import permissions

from accounts.models import User


class IsPerson(permissions.BasePermission):
    """A signed-in user (JWT or personal token); tenant API keys are not people."""

    message = "This endpoint needs a user's credentials, not an API key."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, User) and request.user.is_authenticated


class IsStaff(permissions.BasePermission):
    """Platform staff (`is_staff`) only: the `/api/admin/` endpoints."""

    message = "Staff only."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, User) and request.user.is_staff
