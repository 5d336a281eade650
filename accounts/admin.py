"""Operators' console for accounts: writes go through the same services as the API."""
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import PermissionDenied

from accounts import services
from accounts.addresses import normalize_email
from accounts.models import PersonalAccessToken, User
from core.admin import apply_each, confirm_first, state_badge


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name", "type")

    def clean_email(self) -> str:
        """The stored normal form, checked here so a look-alike of a taken address is a form
        error rather than the service's refusal after validation."""
        email = normalize_email(self.cleaned_data.get("email"))
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("An account with this e-mail address already exists.")
        return email


class UserChangeForm(DjangoUserChangeForm):
    """Shows the password hash read-only with a link to Django's change-password form."""

    class Meta:
        model = User
        fields = ("email", "password", "name", "type", "verification_status", "is_staff")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = ("email", "name", "type", "state", "verification", "is_staff", "created_at", "last_login")
    list_filter = ("status", "verification_status", "type", "is_staff")
    search_fields = ("email", "name")
    ordering = ("email",)
    readonly_fields = ("id", "status", "last_login", "created_at", "updated_at")
    show_full_result_count = False
    filter_horizontal = ()
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("name", "type")}),
        ("State", {"fields": ("status", "verification_status", "is_staff")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("email", "name", "type", "usable_password", "password1", "password2")},
        ),
    )
    actions = ("block_users", "unblock_users", "mark_verified")

    @admin.display(description="status", ordering="status")
    def state(self, user):
        return state_badge(user.status)

    @admin.display(description="e-mail", ordering="verification_status")
    def verification(self, user):
        return state_badge(user.verification_status)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting a row would skip the services: the last-owner rule, ending sessions, the
        # audit. Block or deactivate instead (DELETE /api/admin/users/{id} deactivates too).
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # A superuser's account is a superuser's to change (the services refuse it too).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # The address is the login; changing it would need re-verification, which the API owns.
        fields = (*self.readonly_fields, "email") if obj else self.readonly_fields
        # Operators hold change_user (to block/unblock) but must not mint new staff.
        return fields if request.user.is_superuser else (*fields, "is_staff")

    def user_change_password(self, request, id, form_url=""):
        # Setting someone's password takes their account over (a superuser's, too): superusers only.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            editable = {"name", "type", "verification_status", "is_staff"}
            changed = {field: form.cleaned_data[field] for field in form.changed_data if field in editable}
            # The form already applied the values to `obj`; the service compares against the row.
            services.user_update(user=User.objects.get(pk=obj.pk), actor=request.user, **changed)
            return
        created = services.user_create(
            email=form.cleaned_data["email"],
            name=form.cleaned_data.get("name", ""),
            type=form.cleaned_data.get("type") or User.Type.HUMAN,
            password=form.cleaned_data.get("password1") or None,
            actor=request.user,
        )
        obj.__dict__.update(created.__dict__)  # the admin goes on with `obj` (log entry, redirect)

    @admin.action(description="Block selected users (ends their sessions)", permissions=["change"])
    @confirm_first("Block these users? They are signed out everywhere at once.", verb="block them")
    def block_users(self, request, queryset):
        apply_each(
            self, request, queryset, "Blocked",
            lambda user: services.user_set_status(user=user, status=User.Status.BLOCKED, actor=request.user),
        )

    @admin.action(description="Unblock (reactivate) selected users", permissions=["change"])
    def unblock_users(self, request, queryset):
        apply_each(
            self, request, queryset, "Reactivated",
            lambda user: services.user_set_status(user=user, status=User.Status.ACTIVE, actor=request.user),
        )

    @admin.action(description="Mark e-mail verified", permissions=["change"])
    def mark_verified(self, request, queryset):
        apply_each(
            self, request, queryset, "Verified", lambda user: services.user_mark_verified(user=user, actor=request.user)
        )


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(admin.ModelAdmin):
    """Tokens are read-only here (the digest is never shown); revoke them with the action."""

    list_display = ("name", "display_prefix", "user", "state", "created_at", "expires_at", "last_used_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "public_id", "user__email")
    list_select_related = ("user",)
    fields = ("id", "name", "display_prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    show_full_result_count = False
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="state", ordering="revoked_at")
    def state(self, token):
        if token.is_revoked:
            return state_badge("revoked", title=f"revoked {token.revoked_at:%Y-%m-%d %H:%M} UTC")
        return state_badge("active" if token.is_usable() else "expired")

    def has_revoke_permission(self, request) -> bool:
        """The form is read-only for everyone; revoking needs the model's change permission."""
        return request.user.has_perm("accounts.change_personalaccesstoken")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    @confirm_first("Revoke these personal access tokens? They stop working at once.", verb="revoke them")
    def revoke(self, request, queryset):
        apply_each(
            self, request, queryset, "Revoked",
            lambda token: services.personal_token_revoke(token=token, actor=request.user),
        )
