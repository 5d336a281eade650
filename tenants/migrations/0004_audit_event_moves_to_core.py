"""The audit log moves to `core` (the platform's ground floor) with its table and rows.

First the tenant column stops being a database foreign key: core keeps a tenant's id, not a
relation to a domain model. `db_constraint=False, db_index=False` drops the constraint and the
single-column index (the composite `tenants_audit_tenant_recent` index covers tenant lookups);
on SQLite Django rebuilds the table, copying the rows. Then the model leaves this app's state
only; `core/migrations/0001_audit_event.py` adopts the same table in core's state.
"""
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_tenant_suspend_permission"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="tenant",
            field=models.ForeignKey(
                blank=True,
                null=True,
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tenants.tenant",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
    ]
