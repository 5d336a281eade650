"""Import the seeds' `nodes.json` (`[{"name", "ip", "pubkey", "port"?, "check"?…}]`) into a tenant.

Idempotent: nodes are matched by name within the tenant, so re-running updates them.
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework import serializers

from monitoring import services
from monitoring.api.serializers import validate_address
from monitoring.models import Node, NodeGroup
from tenants.models import Tenant

OPTIONAL = ("port", "path", "expected_status", "interval_seconds", "timeout_seconds", "tags", "tls", "enabled")


class Command(BaseCommand):
    help = "Import nodes from a seeds-style nodes.json file into a tenant (re-running updates them)."

    def add_arguments(self, parser):
        parser.add_argument("--json", required=True, dest="path", help="Path to nodes.json")
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--group", default="", help="Put every imported node in this quorum group")

    def handle(self, *args, path: str, tenant: str, group: str, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        entries = self._load(Path(path))
        rows = [self._row(index, entry) for index, entry in enumerate(entries)]
        created = updated = 0
        with transaction.atomic():
            node_group = None
            if group:
                node_group = NodeGroup.objects.filter(tenant=found, name=group).first() or services.group_create(
                    tenant=found, name=group
                )
            for row in rows:
                if node_group is not None:
                    row["group"] = node_group
                existing = Node.objects.filter(tenant=found, name=row["name"]).first()
                if existing is None:
                    services.node_create(tenant=found, **row)
                    created += 1
                else:
                    services.node_update(node=existing, **row)
                    updated += 1
        self.stdout.write(self.style.SUCCESS(f"{created} created, {updated} updated in tenant {found.slug}"))

    @staticmethod
    def _load(path: Path) -> list:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file.")
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.")
        if isinstance(data, dict) and isinstance(data.get("nodes"), list):
            data = data["nodes"]
        if not isinstance(data, list):
            raise CommandError(f"{path}: expected a JSON list of nodes.")
        return data

    @staticmethod
    def _row(index: int, entry) -> dict:
        where = f"entry {index}"
        if not isinstance(entry, dict):
            raise CommandError(f"{where}: expected an object.")
        name = str(entry.get("name") or "").strip()
        address = str(entry.get("ip") or entry.get("address") or "").strip()
        if not name or not address:
            raise CommandError(f"{where}: 'name' and 'ip' are required.")
        try:
            address = validate_address(address)
        except serializers.ValidationError as exc:
            raise CommandError(f"{where} ({name}): invalid ip/address {address!r}: {exc.detail[0]}")
        row = {"name": name[:100], "address": address, "pubkey": str(entry.get("pubkey") or "")}
        check = entry.get("check")
        if isinstance(check, dict):  # {"type": "http", "path": "/health", "expected_status": 200}
            row["check_type"] = check.get("type", Node.CheckType.HTTP)
            row.update({k: check[k] for k in ("path", "expected_status") if k in check})
        elif check is not None:
            row["check_type"] = check
        if row.get("check_type", Node.CheckType.HTTP) not in Node.CheckType.values:
            raise CommandError(f"{where} ({name}): check must be one of {', '.join(Node.CheckType.values)}.")
        row.update({k: entry[k] for k in OPTIONAL if k in entry})
        port = row.get("port", 80)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise CommandError(f"{where} ({name}): port must be 1-65535.")
        return row
