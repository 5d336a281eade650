from django.core.management.base import BaseCommand

from files import uploads


class Command(BaseCommand):
    help = "Remove resumable uploads past their expiry, with their partial bytes (what beat does every 10 min)."

    def handle(self, *args, **options):
        purged = uploads.upload_sessions_purge_expired()
        self.stdout.write(f"{purged} expired upload(s) purged.")
