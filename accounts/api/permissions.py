"""Permissions of the accounts API."""
from rest_framework import permissions

from accounts.models import User


class IsPerson(permissions.BasePermission):
    """A signed-in user (JWT or personal token); tenant API keys are not people."""

    message = "This endpoint needs a user's credentials, not an API key."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, User) and request.user.is_authenticated


class IsStaff(permissions.BasePermission):
    """Platform staff (`is_staff`) only."""

    message = "Staff only."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, User) and request.user.is_staff


class StaffModelPermissions(permissions.DjangoModelPermissions):
    """The `/api/admin/` endpoints: platform staff, holding the same Django model permission the
    admin asks for (view to read, add to create, change to edit, delete to delete), so the
    operator groups mean the same in the API as in the console. Superusers hold every one."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        return IsStaff().has_permission(request, view) and super().has_permission(request, view)
