from django.apps import AppConfig


class TenantsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tenants"

    def ready(self) -> None:
        from accounts.signals import user_deleting
        from tenants.signals import refuse_deleting_a_last_owner

        user_deleting.connect(refuse_deleting_a_last_owner, dispatch_uid="tenants.refuse_deleting_a_last_owner")
