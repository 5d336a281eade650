"""Which model permissions the operator groups hold: one table, read by the data migration
and by the post_migrate sync (so permissions of models added later are granted too)."""

READ_ONLY_GROUP = "Operators (read-only)"
OPERATORS_GROUP = "Operators"
OPERATOR_GROUPS = (READ_ONLY_GROUP, OPERATORS_GROUP)

# Apps the console operates. Django's own (auth groups/permissions, sessions, content types,
# admin log, token blacklist) stay with superusers: granting them would let an operator raise
# their own privileges or read sessions.
CONSOLE_APPS = frozenset(
    {"core", "notifications", "accounts", "tenants", "apikeys", "monitoring", "orchestration", "recommendations",
     "billing", "files", "deployments", "django_celery_beat"}
)

# Day-to-day work: operators create, change and delete these.
MANAGED_APPS = frozenset({"monitoring", "orchestration", "deployments", "django_celery_beat"})

# Records and history: nobody edits them in the console, operators included.
RECORD_MODELS = frozenset({
    ("core", "auditevent"),
    ("notifications", "emailnotification"),
    ("notifications", "addressoptout"),
    ("apikeys", "apicall"),
    ("apikeys", "usagerollup"),
    ("monitoring", "heartbeat"),
    ("monitoring", "snapshot"),
    ("monitoring", "snapshotrollup"),
    ("monitoring", "metricrollup"),
    ("monitoring", "rollupwatermark"),
    ("monitoring", "alertdelivery"),
    ("orchestration", "steplog"),
    ("orchestration", "idempotencyrecord"),
    ("recommendations", "interaction"),
    ("billing", "invoicesequence"),
    ("files", "fileaccesslog"),
    ("files", "fileuploadpart"),
    ("deployments", "deployment"),
    ("deployments", "deploykey"),
})

DEFAULT_ACTIONS = ("view", "add", "change", "delete")


def grants(group: str, app_label: str, model: str, codename: str) -> bool:
    """Whether `group` should hold the permission `app_label.codename` on `model`."""
    if app_label not in CONSOLE_APPS:
        return False
    default = {f"{action}_{model}": action for action in DEFAULT_ACTIONS}
    action = default.get(codename)  # None: a custom permission such as `suspend_tenant`
    if group == READ_ONLY_GROUP:
        return action == "view"
    if group != OPERATORS_GROUP:
        return False
    if action is None:  # a model's custom permission: an operator's, unless the model is a record
        return (app_label, model) not in RECORD_MODELS
    if (app_label, model) in RECORD_MODELS:
        return action == "view"
    if app_label in MANAGED_APPS:
        return action in DEFAULT_ACTIONS
    # People, tenants, keys: operators act on them (block, suspend, revoke, change roles) but
    # do not create or delete them here; that stays with the API and superusers.
    return action in ("view", "change")
