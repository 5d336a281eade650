"""Create the first operator (a superuser) if there is none, and say how to sign in."""
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a first operator account when none exists; prints its credentials once."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="admin@localhost")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, email: str, base_url: str, **options):
        User = get_user_model()  # noqa: N806
        login_url = f"{base_url}/admin/"
        existing = User.objects.filter(is_superuser=True).order_by("created_at").first()
        if existing:
            self.stdout.write(
                f"Sign in at {login_url} as {existing.email} "
                f"(forgot the password? `manage.py changepassword {existing.email}`)."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, password=password, name="Operator")
        self.stdout.write(self.style.SUCCESS(f"Created operator {email} with password {password}"))
        self.stdout.write(f"Sign in at {login_url} — this password is shown only once.")
