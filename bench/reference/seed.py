"""Creates the reference tables (no migrations: `migrate --run-syncdb`) and 20 items + one key."""
import hashlib
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.reference.settings")
django.setup()

from django.core.management import call_command  # noqa: E402

from bench.reference.models import ApiKey, Item, RequestLog  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
RequestLog.objects.all().delete()
ApiKey.objects.all().delete()
Item.objects.all().delete()
Item.objects.bulk_create(
    Item(name=f"node {i}", address="127.0.0.1", port=9, status="up", interval_seconds=60) for i in range(20)
)
ApiKey.objects.create(digest=hashlib.sha256(sys.argv[1].encode()).hexdigest(), name="bench")
