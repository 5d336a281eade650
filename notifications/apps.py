from django.apps import AppConfig
from django.db.models.signals import post_migrate


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications.services import email_templates_seed_after_migrate

        # Every `migrate` adds the rows of templates that have none yet (new files of a
        # release); rows that exist, edited by staff or not, are left as they are.
        post_migrate.connect(email_templates_seed_after_migrate, sender=self)
