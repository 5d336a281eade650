from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self):
        # Registers `ssh.exec` and `git.sync` in orchestration's satellite registry, the tasks,
        # and the receiver through which deployments follow their runs.
        from deployments import satellites, signals, tasks  # noqa: F401
