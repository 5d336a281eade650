from django.core.management.base import BaseCommand, CommandError

from files import services
from tenants.models import Tenant


class Command(BaseCommand):
    help = ("Recompute tenants' stored bytes (the storage quota's counter) from their files and unfinished "
            "uploads; after a crash between a quota reservation and its file.")

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Tenant slugs; all tenants when none are given.")

    def handle(self, *args, slugs, **options):
        tenants = Tenant.objects.filter(slug__in=slugs) if slugs else Tenant.objects.all()
        if slugs and tenants.count() != len(set(slugs)):
            raise CommandError("Unknown tenant slug(s).")
        for tenant in tenants.iterator():
            self.stdout.write(f"{tenant.slug}: {services.storage_recount(tenant=tenant)} bytes")
