"""`manage.py recommendations_train <tenant-slug>…`: train now, on this process (no worker)."""
from django.core.management.base import BaseCommand, CommandError

from recommendations import training
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Train a new recommendation model for each named tenant, here and now, and print its metrics."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="+", help="Tenant slugs.")

    def handle(self, *args, slugs, **options):
        for slug in slugs:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"No tenant {slug!r}.")
            try:
                model = training.model_train_request(tenant=tenant, enqueue=False)
            except training.TrainingInProgress:
                raise CommandError(f"{slug}: a model is already training.")
            model = training.model_train(model_id=model.pk)
            self.stdout.write(f"{slug}: v{model.version} {model.status} {model.metrics} "
                              f"{model.duration_ms} ms {model.error}".rstrip())
