from django.db import migrations, models


class Migration(migrations.Migration):
    """Weekly rollups (no schema change beyond the choices; the rollup task back-fills them)."""

    dependencies = [
        ('monitoring', '0004_snapshot_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='rollupwatermark',
            name='resolution',
            field=models.CharField(choices=[('hour', 'Hour'), ('day', 'Day'), ('week', 'Week')], max_length=4, primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name='snapshotrollup',
            name='resolution',
            field=models.CharField(choices=[('hour', 'Hour'), ('day', 'Day'), ('week', 'Week')], max_length=4),
        ),
    ]
