import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Snapshots: a (tenant, checked_at) index for the raw tail of uptime queries replaces the
    plain tenant index; the plain node index goes too ((node, -checked_at) covers it)."""

    dependencies = [
        ('monitoring', '0003_rollup_histogram_columns'),
        ('tenants', '0002_audit_event'),
    ]

    operations = [
        # The new index first, then the single-column indexes it (or monitoring_snap_node_time) replaces.
        migrations.AddIndex(
            model_name='snapshot',
            index=models.Index(fields=['tenant', 'checked_at'], name='monitoring_snap_tenant_time'),
        ),
        migrations.AlterField(
            model_name='snapshot',
            name='tenant',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant'),
        ),
        migrations.AlterField(
            model_name='snapshot',
            name='node',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='snapshots', to='monitoring.node'),
        ),
    ]
