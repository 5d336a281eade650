"""Create the database rows of e-mail templates that have none, from templates/emails/ (also
run by every `migrate`); rows that exist are never overwritten."""
from django.core.management.base import BaseCommand

from notifications import services


class Command(BaseCommand):
    help = "Seed missing e-mail templates from templates/emails/ (existing rows are kept)."

    def handle(self, *args, **options) -> None:
        created = services.email_templates_seed()
        self.stdout.write(f"Created {created} e-mail template(s).")
