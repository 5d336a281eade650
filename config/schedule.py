"""Every periodic task of the platform, in one place: beat's schedule (`CELERY_BEAT_SCHEDULE`).

django-celery-beat's database scheduler (config/beat.py) syncs these entries into its tables at
start-up; operators may add their own schedules there. Intervals are in seconds.
"""


def periodic_tasks(*, train_interval_minutes: int) -> dict:
    return {
        # Beat's own tick, seen by a worker: the console shows when beat and workers last ran.
        "platform-heartbeat": {"task": "monitoring.tasks.heartbeat", "schedule": 30.0},
        # Fails steps whose worker died (running past their deadline) and expires idempotency keys.
        "orchestration-reap": {"task": "orchestration.reap", "schedule": 30.0},
        # Buffered usage records → ApiCall rows → daily rollups; then old raw rows are pruned.
        "usage-flush": {"task": "apikeys.usage_flush", "schedule": 5.0},
        "usage-prune": {"task": "apikeys.usage_prune", "schedule": 3600.0},
        # Snapshot invalidations that failed while Redis was down (a revoked key must not come back).
        "apikeys-invalidations-retry": {"task": "apikeys.invalidations_retry", "schedule": 5.0},
        # Claims nodes whose own interval has elapsed (a conditional UPDATE, so overlapping or
        # duplicated beats never double-check) and fans them out in batches to workers.
        "monitoring-dispatch": {"task": "monitoring.tasks.dispatch_due_checks", "schedule": 5.0},
        # Rolls complete hours/days of snapshots up (idempotent; a no-op between hours).
        "monitoring-rollup": {"task": "monitoring.tasks.rollup_snapshots", "schedule": 600.0},
        "monitoring-purge": {"task": "monitoring.tasks.purge_snapshots", "schedule": 3600.0},
        "monitoring-alert-reminders": {"task": "monitoring.tasks.send_alert_reminders", "schedule": 60.0},
        # Pending deliveries whose attempt is due but was never made or never recorded.
        "monitoring-alert-resend": {"task": "monitoring.tasks.resend_due_alerts", "schedule": 30.0},
        # Expired refresh-token rows (and their blacklist entries) are deleted once a day.
        "accounts-flush-expired-sessions": {"task": "accounts.tasks.flush_expired_sessions", "schedule": 86400.0},
        # Retrains each tenant that received interactions since its newest model (one at a time per tenant).
        "recommendations-train-due": {
            "task": "recommendations.train_due",
            "schedule": 60.0 * train_interval_minutes,
        },
        # Ended billing periods → finalised invoices, next period started (idempotent: a row lock,
        # one invoice per period by constraint, a conditional advance; a no-op between periods).
        "billing-close-periods": {"task": "billing.close_periods", "schedule": 300.0},
        # Dunning: owners and admins warned BILLING_SUSPENSION_WARNING_DAYS before the end of the
        # grace; tenants past due longer than BILLING_GRACE_DAYS are suspended.
        "billing-suspend-overdue": {"task": "billing.suspend_overdue", "schedule": 3600.0},
        # Stripe events whose processing task was lost or failed.
        "billing-webhooks-retry": {"task": "billing.webhooks_retry", "schedule": 60.0},
        # Resumable uploads past their expiry, with their partial bytes and reserved quota.
        "files-purge-expired-uploads": {"task": "files.tasks.purge_expired_uploads", "schedule": 600.0},
        # Buffered download rows → the files' access log, in bulk (the download never INSERTs).
        "files-flush-access-log": {"task": "files.tasks.flush_access_log", "schedule": 5.0},
        # Deploys past their timeout fail and open an incident; deployments follow runs they missed.
        "deployments-sweep": {"task": "deployments.sweep", "schedule": 30.0},
    }
