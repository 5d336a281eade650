"""Cache invalidation on changes made anywhere (API, admin, shell, other apps' services).

The tenants and accounts apps own these models; we only listen, so their code needs no
knowledge of the gateway's caches.
"""
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import PersonalAccessToken, User
from accounts.signals import session_ended
from apikeys.gateway import invalidation
from apikeys.models import ApiKey
from tenants.models import Membership, Plan, Tenant


@receiver([post_save, post_delete], sender=ApiKey, dispatch_uid="apikeys.key_changed")
def _key_changed(sender, instance: ApiKey, **kwargs) -> None:
    invalidation.forget_keys(instance.public_id)


@receiver([post_save, post_delete], sender=Tenant, dispatch_uid="apikeys.tenant_changed")
def _tenant_changed(sender, instance: Tenant, created: bool = False, **kwargs) -> None:
    if not created:  # a new tenant has no keys or cached members yet
        invalidation.forget_tenants([instance.pk])


@receiver([post_save, post_delete], sender=Plan, dispatch_uid="apikeys.plan_changed")
def _plan_changed(sender, instance: Plan, created: bool = False, **kwargs) -> None:
    if not created:
        invalidation.forget_tenants(Tenant.objects.filter(plan=instance).values_list("pk", flat=True))


@receiver([post_save, post_delete], sender=Membership, dispatch_uid="apikeys.membership_changed")
def _membership_changed(sender, instance: Membership, **kwargs) -> None:
    invalidation.forget_users([instance.user_id])


@receiver([post_save, post_delete], sender=PersonalAccessToken, dispatch_uid="apikeys.token_changed")
def _token_changed(sender, instance: PersonalAccessToken, **kwargs) -> None:
    invalidation.forget([f"{invalidation.snapshots.pat_cache_key(instance.public_id)}"])


@receiver(post_save, sender=User, dispatch_uid="apikeys.user_changed")
def _user_changed(sender, instance: User, created: bool = False, **kwargs) -> None:
    if not created:
        invalidation.forget_users([instance.pk])


@receiver(session_ended, dispatch_uid="apikeys.session_ended")
def _session_ended(sender, user_id, **kwargs) -> None:
    invalidation.forget_users([user_id])
