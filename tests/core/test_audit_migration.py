"""The audit log's move from `tenants` to `core` keeps every row of an existing database."""
import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("tenants", "0003_tenant_suspend_permission"), ("core", None)]
AFTER = [("tenants", "0004_audit_event_moves_to_core"), ("core", "0001_audit_event")]


def migrate(targets):
    """Tenants and core at `targets` (migrations that need a later tenants are unapplied with
    them, the rest stay); the models of the resulting state."""
    return MigrationExecutor(connection).migrate(targets).apps


def migrate_to_latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_rows_written_in_tenants_are_read_in_core():
    old = migrate(BEFORE)
    tenant = old.get_model("tenants", "Tenant").objects.create(name="Acme", slug="acme")
    user = old.get_model("accounts", "User").objects.create(email="a@example.com")
    events = old.get_model("tenants", "AuditEvent").objects
    written = [
        events.create(tenant=tenant, actor=user, action="tenant.update", target_type="tenants.tenant",
                      target_id=str(tenant.pk), changes={"n": n}, request_id=f"req-{n}").pk
        for n in range(3)
    ]
    written.append(events.create(action="user.status.blocked", target_type="accounts.user",
                                 target_id=str(user.pk)).pk)
    try:
        new = migrate(AFTER)
        moved = new.get_model("core", "AuditEvent").objects
        assert sorted(moved.values_list("pk", flat=True)) == sorted(written)
        assert moved.filter(tenant_id=tenant.pk, actor_id=user.pk).count() == 3
        assert sorted(moved.filter(tenant_id=tenant.pk).values_list("changes__n", flat=True)) == [0, 1, 2]
        # No database constraint ties the record to a tenant any more: the trail outlives it.
        moved.create(tenant_id=uuid.uuid4(), action="tenant.delete", target_type="tenants.tenant", target_id="x")
    finally:
        migrate_to_latest()
