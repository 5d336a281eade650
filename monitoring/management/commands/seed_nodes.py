"""Import the seeds' nodes into a tenant, from one of three sources:

- `--json nodes.json` (`[{"name", "ip", "pubkey", "port"?, "check"?…}]`),
- `--mapping-file status.py` (the status page's Python dict literal, parsed, never executed),
- `--from-env` (`NODE_<n>_IP`, `NODE_<n>_NAME`, `NODE_<n>_PUBKEY`, `NODE_<n>_PORT`?).

Every entry is validated before anything is written, so bad input names the entry and changes
nothing. Idempotent: nodes are matched by name within the tenant, so re-running updates them.
"""
import os
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework import serializers

from monitoring import check_config, seed_sources, services
from monitoring.api.serializers import validate_address
from monitoring.models import Node, NodeGroup, check_consistency
from tenants.models import Tenant

OPTIONAL = ("port", "path", "expected_status", "interval_seconds", "timeout_seconds", "tags", "tls", "enabled")
DEFAULT_CHECK = Node.CheckType.TCP
DEFAULT_PORT = 80
DEFAULT_METHOD = "getStatus"
# A declared check's keys (`"check": {"type": "jsonrpc", "method": …}`) → node fields, with their validators.
CHECK_KEYS = {
    "path": ("path", None),
    "expected_status": ("expected_status", None),
    "method": ("rpc_method", check_config.validate_method),
    "params": ("rpc_params", check_config.validate_params),
    "expected_result": ("expected_result", check_config.validate_optional_path),
    "expected_result_value": ("expected_result_value", None),
    "metrics": ("metrics", check_config.validate_metrics),
}


class Command(BaseCommand):
    help = (
        "Import nodes into a tenant from a seeds-style nodes.json, the status page's Python mapping "
        "file, or NODE_<n>_* environment variables (re-running updates them by name). An entry that "
        f"names no check or port of its own is checked with --check (default {DEFAULT_CHECK}) on "
        f"--port (default {DEFAULT_PORT}); a jsonrpc check that names no method calls --method "
        f"(default {DEFAULT_METHOD})."
    )

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--json", dest="json_path", help="Path to nodes.json")
        source.add_argument("--mapping-file", help="Path to a Python file with a dict literal {ip: {name, …}}")
        source.add_argument("--from-env", action="store_true", help="Read NODE_<n>_IP/_NAME/_PUBKEY/_PORT")
        parser.add_argument("--mapping-variable", default="", help="The dict's name when the file has several")
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--group", default="", help="Put every imported node in this quorum group")
        parser.add_argument(
            "--check", choices=Node.CheckType.values, default=DEFAULT_CHECK,
            help=f"Check type for entries that name none (default {DEFAULT_CHECK})",
        )
        parser.add_argument(
            "--port", type=int, default=DEFAULT_PORT,
            help=f"Port for entries that name none (default {DEFAULT_PORT})",
        )
        parser.add_argument(
            "--method", default=DEFAULT_METHOD,
            help=f"JSON-RPC method of jsonrpc checks that name none (default {DEFAULT_METHOD})",
        )

    def handle(self, *args, tenant: str, group: str, check: str, port: int, method: str, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        if not 0 < port < 65536:
            raise CommandError("--port must be 1-65535.")
        try:
            entries = self._entries(options)
        except seed_sources.SourceError as exc:
            raise CommandError(str(exc)) from None
        try:
            check_config.validate_method(method)
        except ValidationError as exc:
            raise CommandError(f"--method: {exc.messages[0]}") from None
        rows = [self._row(label, entry, check=check, port=port, method=method) for label, entry in entries]
        self._refuse_repeated_names(rows, entries)
        created, updated = self._write(found, rows, group)
        self.stdout.write(self.style.SUCCESS(f"{created} created, {updated} updated in tenant {found.slug}"))

    @staticmethod
    def _entries(options) -> list[tuple[str, object]]:
        if options["json_path"]:
            return seed_sources.from_json(Path(options["json_path"]))
        if options["mapping_file"]:
            return seed_sources.from_mapping_file(Path(options["mapping_file"]), options["mapping_variable"])
        return seed_sources.from_environment(os.environ)

    @staticmethod
    def _write(tenant: Tenant, rows: list[dict], group: str) -> tuple[int, int]:
        created = updated = 0
        with transaction.atomic():
            node_group = None
            if group:
                node_group = NodeGroup.objects.filter(tenant=tenant, name=group).first() or services.group_create(
                    tenant=tenant, name=group
                )
            for row in rows:
                if node_group is not None:
                    row["group"] = node_group
                existing = Node.objects.filter(tenant=tenant, name=row["name"]).first()
                if existing is None:
                    services.node_create(tenant=tenant, **row)
                    created += 1
                else:
                    services.node_update(node=existing, **row)
                    updated += 1
        return created, updated

    @staticmethod
    def _refuse_repeated_names(rows: list[dict], entries: list[tuple[str, object]]) -> None:
        # Two entries with one name would silently become one node (the second overwriting the first).
        seen: dict[str, str] = {}
        for row, (label, _) in zip(rows, entries, strict=True):
            if row["name"] in seen:
                raise CommandError(f"{label}: the name {row['name']!r} is already used by {seen[row['name']]}.")
            seen[row["name"]] = label

    @staticmethod
    def _row(label: str, entry, *, check: str, port: int, method: str) -> dict:
        if not isinstance(entry, dict):
            raise CommandError(f"{label}: expected an object.")
        name = str(entry.get("name") or "").strip()
        address = str(entry.get("ip") or entry.get("address") or "").strip()
        if not name or not address:
            raise CommandError(f"{label}: 'name' and 'ip' are required.")
        try:
            address = validate_address(address)
        except serializers.ValidationError as exc:
            raise CommandError(f"{label} ({name}): invalid ip/address {address!r}: {exc.detail[0]}") from None
        row = {"name": name[:100], "address": address, "pubkey": str(entry.get("pubkey") or ""), "check_type": check}
        declared = entry.get("check")
        if isinstance(declared, dict):  # {"type": "jsonrpc", "method": "getStatus", "metrics": {…}}
            row["check_type"] = declared.get("type", Node.CheckType.HTTP)
            for key, (field, validate) in CHECK_KEYS.items():
                if key not in declared:
                    continue
                try:
                    if validate is not None:
                        validate(declared[key])
                except ValidationError as exc:
                    raise CommandError(f"{label} ({name}): check {key}: {exc.messages[0]}") from None
                row[field] = declared[key]
        elif declared is not None:
            row["check_type"] = declared
        if row["check_type"] not in Node.CheckType.values:
            raise CommandError(f"{label} ({name}): check must be one of {', '.join(Node.CheckType.values)}.")
        if row["check_type"] == Node.CheckType.JSONRPC:
            row.setdefault("rpc_method", method)
        errors = check_consistency(row["check_type"], row.get("rpc_method", ""), row.get("metrics"))
        if errors:
            raise CommandError(f"{label} ({name}): " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
        row.update({k: entry[k] for k in OPTIONAL if k in entry})
        row.setdefault("port", port)
        if not isinstance(row["port"], int) or isinstance(row["port"], bool) or not 0 < row["port"] < 65536:
            raise CommandError(f"{label} ({name}): port must be 1-65535.")
        return row
