"""Tell open live connections that their access may have changed (see apikeys.access).

We only listen: the apps that own credentials, memberships and tenants need no knowledge of
live connections. Each change publishes one internal `ACCESS_EVENT` per affected tenant, after
commit; the consumers it concerns re-check their grant against the database and close if it is
gone. Saves that touch only bookkeeping (last login, last use) publish nothing.
"""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import PersonalAccessToken, User
from apikeys.access import ACCESS_EVENT
from apikeys.models import ApiKey
from monitoring import live
from tenants.models import Membership, Tenant

BOOKKEEPING = frozenset({"last_login", "last_used_at", "updated_at"})


def _bookkeeping(update_fields) -> bool:
    return bool(update_fields) and set(update_fields) <= BOOKKEEPING


def _publish(tenant_ids, change: dict) -> None:
    for tenant_id in set(tenant_ids):
        live.publish_on_commit(tenant_id=tenant_id, event=ACCESS_EVENT, data=change)


def _user_changed(user_id) -> None:
    tenants = Membership.objects.filter(user_id=user_id).values_list("tenant_id", flat=True)
    _publish(tenants, {"user_id": str(user_id)})


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="monitoring.access.key")
def _key_changed(sender, instance: ApiKey, created: bool = False, update_fields=None, **kwargs) -> None:
    if not created and not _bookkeeping(update_fields):
        _publish([instance.tenant_id], {"key_id": str(instance.pk)})


@receiver([post_save, post_delete], sender=Membership, dispatch_uid="monitoring.access.membership")
def _membership_changed(sender, instance: Membership, created: bool = False, **kwargs) -> None:
    if not created:
        _publish([instance.tenant_id], {"user_id": str(instance.user_id)})


@receiver([post_save, post_delete], sender=Tenant, dispatch_uid="monitoring.access.tenant")
def _tenant_changed(sender, instance: Tenant, created: bool = False, update_fields=None, **kwargs) -> None:
    if not created and not _bookkeeping(update_fields):
        _publish([instance.pk], {"tenant": True})


@receiver(post_save, sender=User, dispatch_uid="monitoring.access.user")
def _account_changed(sender, instance: User, created: bool = False, update_fields=None, **kwargs) -> None:
    if not created and not _bookkeeping(update_fields):
        _user_changed(instance.pk)


@receiver([post_save, post_delete], sender=PersonalAccessToken, dispatch_uid="monitoring.access.token")
def _token_changed(sender, instance: PersonalAccessToken, created: bool = False, update_fields=None,
                   **kwargs) -> None:
    if not created and not _bookkeeping(update_fields):
        _user_changed(instance.user_id)
