from django.core.management.base import BaseCommand

from files import uploads


class Command(BaseCommand):
    help = ("Finish uploads a crash left half-assembled, then remove resumable uploads past their expiry "
            "with their partial bytes (what beat does every 10 min).")

    def handle(self, *args, **options):
        recovered = uploads.upload_sessions_recover()
        purged = uploads.upload_sessions_purge_expired()
        self.stdout.write(f"{recovered} upload(s) recovered, {purged} expired upload(s) purged.")
