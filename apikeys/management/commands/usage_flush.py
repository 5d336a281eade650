"""`manage.py usage_flush [--prune]`: what beat runs, by hand (e.g. before a billing export)."""
from django.core.management.base import BaseCommand

from apikeys import services


class Command(BaseCommand):
    help = "Write buffered usage records to the database and roll them up; optionally prune raw rows."

    def add_arguments(self, parser):
        parser.add_argument("--prune", action="store_true", help="Also delete raw calls past the retention.")

    def handle(self, *args, prune: bool = False, **options):
        stored = services.usage_flush()
        self.stdout.write(f"stored {stored} buffered call(s) and rolled up pending calls")
        if prune:
            self.stdout.write(f"pruned {services.usage_prune()} raw call(s)")
