"""Groundstation settings: one module, driven by environment variables (and `.env`).

With no environment at all the platform runs embedded: SQLite, the local-memory cache, the
in-memory channel layer and Celery's filesystem broker. `DATABASE_URL` and `REDIS_URL` switch
to PostgreSQL and Redis. Every variable documented in the README is read here and nowhere else.
"""
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.schedule import periodic_tasks
from core.storage_url import storage_from_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # git-ignored runtime state of the embedded default

env = environ.Env()
# Variables already set win over the file; ENV_FILE points elsewhere (e.g. an empty file in tests).
environ.Env.read_env(os.environ.get("ENV_FILE") or BASE_DIR / ".env", overwrite=False)


def env_secret(name: str, default=None):
    """Read a secret from `NAME`, or from the file named by `NAME_FILE` (Docker/K8s secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


# --- Core -----------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env_secret("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is false. Set SECRET_KEY (or SECRET_KEY_FILE), "
            "or set DEBUG=true for a development run."
        )
    from django.core.management.utils import get_random_secret_key

    SECRET_KEY = get_random_secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
# Links in e-mails. Unset, they follow the address this run serves: the Procfile's WEB_HOST and
# WEB_PORT, which honcho gives the worker (which sends the mail) as well as the web process.
_web_host = env.str("WEB_HOST", default="127.0.0.1")
if _web_host in ("", "0.0.0.0", "::"):  # noqa: S104 (listening everywhere: links name this machine)
    _web_host = "127.0.0.1"
elif ":" in _web_host:
    _web_host = f"[{_web_host}]"
PUBLIC_BASE_URL = (
    env.str("PUBLIC_BASE_URL", default="") or f"http://{_web_host}:{env.int('WEB_PORT', default=8000)}"
).rstrip("/")

INSTALLED_APPS = [
    # The admin with the operators' console site (dashboard view); see console/sites.py.
    "console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_prometheus",
    "channels",
    "core.apps.CoreConfig",
    "notifications.apps.NotificationsConfig",
    "console.apps.ConsoleConfig",
    "accounts.apps.AccountsConfig",
    "tenants.apps.TenantsConfig",
    "apikeys.apps.ApikeysConfig",
    "orchestration.apps.OrchestrationConfig",
    "monitoring.apps.MonitoringConfig",
    "recommendations.apps.RecommendationsConfig",
    "billing.apps.BillingConfig",
    "files.apps.FilesConfig",
    "deployments.apps.DeploymentsConfig",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.api.middleware.RequestIdMiddleware",
    # Rate limits, their headers and usage metering for /api/ (see docs/apikeys-and-usage.md).
    "apikeys.gateway.middleware.GatewayMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.api.middleware.AccessLogMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let web, worker and beat share the embedded database file. Every
    # transaction takes the write lock at BEGIN (IMMEDIATE), so it waits up to `timeout` for a
    # concurrent writer: a DEFERRED one that read first is refused at once ("database is
    # locked") when it tries to write after another process committed. Hence no slow work
    # (password hashing, outbound calls) inside `transaction.atomic` (docs/reliability.md).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests on SQLite use a file like the embedded default, not Django's shared-cache in-memory
    # database, whose table-level locks refuse a concurrent writer at once ("table is locked")
    # instead of waiting for it: the concurrency tests then exercise what production runs.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(BASE_DIR / "db.sqlite3-test"))
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Fail fast when the database is unreachable: readiness answers 503, requests 503.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
# HTTP threads per web process (config/asgi.py). The web process takes its PostgreSQL
# connections from a pool of at most DATABASE_POOL_SIZE (its threads plus room for WebSocket
# and event-stream polls), so web connections never exceed processes × DATABASE_POOL_SIZE; a
# request that waits DATABASE_POOL_TIMEOUT_SECONDS for one answers 503 with Retry-After.
# Workers and management commands keep one persistent connection per process.
WEB_THREADS = env.int("WEB_THREADS", default=8)
DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=WEB_THREADS + 4)
DATABASE_POOL_TIMEOUT_SECONDS = env.float("DATABASE_POOL_TIMEOUT_SECONDS", default=5.0)
if os.environ.get("GROUNDSTATION_WEB_SERVER") and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool requires it: "closing" returns to the pool
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": min(2, DATABASE_POOL_SIZE),
        "max_size": DATABASE_POOL_SIZE,
        "timeout": DATABASE_POOL_TIMEOUT_SECONDS,
        "max_idle": 300,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, broker -------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "gs",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # No read timeout, as channels_redis expects (redis-py < 6 had none): redis-py 8's 5 s
            # default equals channels_redis' 5 s blocking pop, so the read timed out first and
            # killed the consumer (traceback, dropped WebSocket); with any read timeout set, a
            # consumer whose client left never finished (uvicorn then hung on shutdown). The pop
            # itself returns every 5 s, so a live connection is never idle for long.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "prefix": "gs:channels"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# The in-memory layer is per process: live events then travel through the database (an outbox
# table every web process with WebSocket clients drains), so the worker's events reach them too.
LIVE_OUTBOX = env.bool("LIVE_OUTBOX", default=not REDIS_URL)
LIVE_OUTBOX_POLL_SECONDS = env.float("LIVE_OUTBOX_POLL_SECONDS", default=0.2)

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://localhost/"
CELERY_BROKER_FOLDER = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport, stopping its polls at once on a worker's shutdown (Ctrl-C).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    for _sub in ("out", "processed", "control"):
        (CELERY_BROKER_FOLDER / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "out"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "out"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # seconds between looks at an empty folder (kombu's default: 1)
    }
else:
    # Longer than the longest step a cluster may declare, so a slow step is not redelivered.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection around every task unless this is set;
# config/celery.py recycles connections the way Django does per request (CONN_MAX_AGE, health
# checks) instead, which saves a PostgreSQL connection setup per task.
CELERY_DB_REUSE_MAX = 10**9
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# django-celery-beat's database scheduler, retrying through database outages (config/beat.py).
CELERY_BEAT_SCHEDULER = "config.beat:ResilientDatabaseScheduler"
# How often beat re-reads every schedule from the database (django-celery-beat: 5 minutes).
BEAT_FULL_SYNC_SECONDS = env.int("BEAT_FULL_SYNC_SECONDS", default=300)
# Beat's heartbeat (every 30 s, recorded by a worker) older than this: readiness answers 503
# with `beat: stale` and the dashboard shows beat late. Three missed ticks.
BEAT_STALE_AFTER_SECONDS = env.int("BEAT_STALE_AFTER_SECONDS", default=90)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# How often tenants with new interactions are retrained (docs/recommendations.md).
RECOMMENDER_TRAIN_INTERVAL_MINUTES = env.int("RECOMMENDER_TRAIN_INTERVAL_MINUTES", default=60)
# Every periodic task is declared in one place, config/schedule.py (see README "Background work").
CELERY_BEAT_SCHEDULE = periodic_tasks(train_interval_minutes=RECOMMENDER_TRAIN_INTERVAL_MINUTES)

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
REQUIRE_EMAIL_VERIFICATION = env.bool("REQUIRE_EMAIL_VERIFICATION", default=True)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_TOKEN_LIFETIME_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_TOKEN_LIFETIME_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_secret("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Access tokens carry a hash of the password: a password change invalidates them at once.
    "CHECK_REVOKE_TOKEN": True,
    "REVOKE_TOKEN_CLAIM": "pwd",
    "CHECK_USER_IS_ACTIVE": True,
}

# Secrets (API keys, personal tokens) are stored as HMAC-SHA256 digests under this pepper.
CREDENTIAL_PEPPER = env_secret("CREDENTIAL_PEPPER", default="") or SECRET_KEY

# --- Rate limits ----------------------------------------------------------------------------
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLED", default=True)  # django-ratelimit's name
RATELIMIT_FAIL_OPEN = env.bool("RATELIMIT_FAIL_OPEN", default=True)
RATELIMIT_USE_CACHE = "default"
AUTH_RATE_LIMIT = env.str("AUTH_RATE_LIMIT", default="5/m")
AUTH_IP_RATE_LIMIT = env.str("AUTH_IP_RATE_LIMIT", default="60/m")
# Failed API-key / personal-token authentications per client IP (apikeys/gateway/credential_failures.py).
CREDENTIAL_FAILURE_RATE_LIMIT = env.str("CREDENTIAL_FAILURE_RATE_LIMIT", default="30/m")
# Per-route classes, per tenant (views set `rate_limit_class = "execution"`).
RATE_LIMIT_CLASSES = {"execution": env.list("EXECUTION_RATE_LIMIT", default=["10/m"])}
# People (JWT, personal tokens) are limited per user and tenant by their role there, as token
# buckets (the seed's per-role limits): owners and admins ADMIN_RATE_LIMIT_PER_SECOND, everyone
# else DEFAULT_RATE_LIMIT_PER_SECOND; "none" is for calls outside any tenant. A bare number N
# means "N/s burst 2N". Tenant plan limits apply on top. Validated at start-up (apikeys/apps.py).
def _per_second_rate(name: str, default: str) -> str:
    value = " ".join(env.str(name, default=default).split())
    return f"{value}/s burst {int(value) * 2}" if value.isdigit() else value


ADMIN_RATE_LIMIT = _per_second_rate("ADMIN_RATE_LIMIT_PER_SECOND", "100/s burst 200")
DEFAULT_RATE_LIMIT = _per_second_rate("DEFAULT_RATE_LIMIT_PER_SECOND", "10/s burst 20")
API_USER_RATE_LIMITS = {
    "owner": [ADMIN_RATE_LIMIT], "admin": [ADMIN_RATE_LIMIT], "operator": [DEFAULT_RATE_LIMIT],
    "member": [DEFAULT_RATE_LIMIT], "viewer": [DEFAULT_RATE_LIMIT], "none": [DEFAULT_RATE_LIMIT],
}
# Cached credential snapshots live this long (they are also dropped on every relevant change).
APIKEY_CACHE_SECONDS = env.int("APIKEY_CACHE_SECONDS", default=300)
# Usage metering: raw call rows are kept this long (daily rollups forever).
# --- Billing (docs/billing.md) -----------------------------------------------------------------
# Unset: invoices are computed and kept locally (`collection: manual`), no Stripe call is made.
STRIPE_API_KEY = env_secret("STRIPE_API_KEY", default="")
# A Stripe-compatible server (e.g. localstripe in tests); unset: Stripe's own API.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_SECRET = env_secret("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=14)
# Owners and admins are e-mailed this many days before the grace runs out (0: no warning).
BILLING_SUSPENSION_WARNING_DAYS = env.int("BILLING_SUSPENSION_WARNING_DAYS", default=3)
BILLING_TRIAL_DAYS = env.int("BILLING_TRIAL_DAYS", default=0)
# A period is closed this long after it ended, once the meter has rolled its last calls up.
BILLING_CLOSE_DELAY_MINUTES = env.int("BILLING_CLOSE_DELAY_MINUTES", default=10)
BILLING_INVOICE_PREFIX = env.str("BILLING_INVOICE_PREFIX", default="GS")

USAGE_RAW_RETENTION_DAYS = env.int("USAGE_RAW_RETENTION_DAYS", default=30)
USAGE_SHIP_INTERVAL_SECONDS = env.float("USAGE_SHIP_INTERVAL_SECONDS", default=0.5)
USAGE_BUFFER_MAX = env.int("USAGE_BUFFER_MAX", default=200_000)
USAGE_BUFFER_AUTOFLUSH = env.bool("USAGE_BUFFER_AUTOFLUSH", default=True)  # tests ship by hand
# Proxies whose X-Forwarded-For we believe (comma list of IPs/CIDRs); empty = use REMOTE_ADDR.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- Outbound requests ----------------------------------------------------------------------
OUTBOUND_ALLOW_PRIVATE = env.bool("OUTBOUND_ALLOW_PRIVATE", default=False)

# --- Orchestration --------------------------------------------------------------------------
# Fernet key (or any random string, hashed into one) for tenant secrets; defaults to one
# derived from SECRET_KEY, so rotating SECRET_KEY without setting this makes secrets unreadable.
SECRETS_ENCRYPTION_KEY = env_secret("SECRETS_ENCRYPTION_KEY", default="") or f"gs-secrets:{SECRET_KEY}"
LLM_BASE_URL = env.str("LLM_BASE_URL", default="")  # OpenAI-compatible; unset → local provider
LLM_API_KEY = env_secret("LLM_API_KEY", default="")
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=60.0)
# A step still `queued` this long after it became due lost its message (the broker was down or
# the process died between commit and publish): the reaper sends it again (same claim token).
ORCHESTRATION_RESEND_AFTER_SECONDS = env.int("ORCHESTRATION_RESEND_AFTER_SECONDS", default=600)
# A pure step whose worker was lost (killed, out of memory, past its hard time limit) is run
# again at most this many times; the next redelivery fails it instead of looping for ever.
ORCHESTRATION_MAX_REDELIVERIES = env.int("ORCHESTRATION_MAX_REDELIVERIES", default=3)
# Concurrent SSE log streams (GET /runs/{id}/logs, text/event-stream): 429 above these.
SSE_MAX_STREAMS_PER_CREDENTIAL = env.int("SSE_MAX_STREAMS_PER_CREDENTIAL", default=5)
SSE_MAX_STREAMS_PER_TENANT = env.int("SSE_MAX_STREAMS_PER_TENANT", default=50)
# Remote logs (GET /projects/{name}/logs, docs/deployments.md): a tail's most `lines`, and the
# bounds of a follow (text/event-stream; they count against the SSE caps above).
DEPLOYMENTS_LOG_TAIL_MAX_LINES = env.int("DEPLOYMENTS_LOG_TAIL_MAX_LINES", default=10_000)
DEPLOYMENTS_LOG_MAX_LINES = env.int("DEPLOYMENTS_LOG_MAX_LINES", default=100_000)
DEPLOYMENTS_LOG_MAX_BYTES = env.int("DEPLOYMENTS_LOG_MAX_BYTES", default=16 * 1024 * 1024)
DEPLOYMENTS_LOG_MAX_SECONDS = env.float("DEPLOYMENTS_LOG_MAX_SECONDS", default=3600.0)
DEPLOYMENTS_LOG_IDLE_SECONDS = env.float("DEPLOYMENTS_LOG_IDLE_SECONDS", default=300.0)
# A status query, a log tail or one service's restart on a host, at most.
DEPLOYMENTS_COMMAND_TIMEOUT_SECONDS = env.float("DEPLOYMENTS_COMMAND_TIMEOUT_SECONDS", default=120.0)

# --- Recommendations (docs/recommendations.md) -----------------------------------------------
# (RECOMMENDER_TRAIN_INTERVAL_MINUTES is with the beat schedule above.)
# A `training` model older than this is marked failed, so a lost worker cannot block the tenant.
RECOMMENDER_TRAINING_TIMEOUT_MINUTES = env.int("RECOMMENDER_TRAINING_TIMEOUT_MINUTES", default=30)
# Popularity (the cold-start answer) halves an event's weight every this many days.
RECOMMENDER_POPULARITY_HALF_LIFE_DAYS = env.float("RECOMMENDER_POPULARITY_HALF_LIFE_DAYS", default=14.0)
# A training is requested once this many interactions arrived since the newest model (0: off).
RECOMMENDER_RETRAIN_AFTER_INTERACTIONS = env.int("RECOMMENDER_RETRAIN_AFTER_INTERACTIONS", default=10_000)
# Tenants whose served model each web process keeps in memory (least recently used go first).
RECOMMENDER_CACHED_TENANTS = env.int("RECOMMENDER_CACHED_TENANTS", default=64)
# A remote engine speaking this API's JSON (docs/recommendations.md): recommendations and training
# are delegated to it through the outbound guard; unset, the built-in engine answers.
ML_ENGINE_URL = env.str("ML_ENGINE_URL", default="")
ML_ENGINE_TOKEN = env_secret("ML_ENGINE_TOKEN", default="")
# A recommendation the engine has not answered within this falls back to popularity.
ML_ENGINE_TIMEOUT_SECONDS = env.float("ML_ENGINE_TIMEOUT_SECONDS", default=1.0)
# --- Files ---------------------------------------------------------------------------------
# A multipart upload (POST /api/v1/files) up to this size; bigger files go through tus uploads.
FILES_MAX_SIMPLE_UPLOAD_BYTES = env.int("FILES_MAX_SIMPLE_UPLOAD_BYTES", default=100 * 1024 * 1024)
# The largest resumable upload (tus `Tus-Max-Size`); a PATCH may carry all of it at once.
FILES_MAX_UPLOAD_BYTES = env.int("FILES_MAX_UPLOAD_BYTES", default=10 * 1024**3)
# An unfinished resumable upload is purged (with its partial bytes) this long after its creation.
FILES_UPLOAD_EXPIRY_HOURS = env.int("FILES_UPLOAD_EXPIRY_HOURS", default=24)
# Upload routes accept bodies above MAX_REQUEST_BYTES (core/body_limit.py); multipart framing
# adds a little to the file itself.
REQUEST_BODY_LIMITS = {
    "/api/v1/files": FILES_MAX_SIMPLE_UPLOAD_BYTES + 64 * 1024,
    "/api/v1/uploads": FILES_MAX_UPLOAD_BYTES,
}

# --- Deployments (docs/deployments.md) -----------------------------------------------------
# A project's deploy limit unless it sets `timeout_seconds`: past it the deploy fails and opens an incident.
DEPLOYMENTS_DEFAULT_TIMEOUT_SECONDS = env.int("DEPLOYMENTS_DEFAULT_TIMEOUT_SECONDS", default=900)

# --- Monitoring -----------------------------------------------------------------------------
MONITORING_MIN_INTERVAL_SECONDS = 10  # the API's floor for a node's interval
MONITORING_DEFAULT_INTERVAL_SECONDS = env.int("MONITORING_DEFAULT_INTERVAL_SECONDS", default=60)
if not MONITORING_MIN_INTERVAL_SECONDS <= MONITORING_DEFAULT_INTERVAL_SECONDS <= 86400:
    # Every node created without an interval gets this one: below the floor it could not be saved.
    raise ImproperlyConfigured(
        f"MONITORING_DEFAULT_INTERVAL_SECONDS must be between {MONITORING_MIN_INTERVAL_SECONDS} and 86400 "
        f"seconds; it is {MONITORING_DEFAULT_INTERVAL_SECONDS}."
    )
MONITORING_FAILURE_THRESHOLD = env.int("MONITORING_FAILURE_THRESHOLD", default=2)  # consecutive failures → down
MONITORING_DEGRADED_LATENCY_MS = env.int("MONITORING_DEGRADED_LATENCY_MS", default=2000)
MONITORING_RAW_RETENTION_DAYS = env.int("MONITORING_RAW_RETENTION_DAYS", default=14)  # rollups are kept forever
MONITORING_CHECK_CONCURRENCY = env.int("MONITORING_CHECK_CONCURRENCY", default=1000)  # per worker task
MONITORING_DISPATCH_BATCH_SIZE = env.int("MONITORING_DISPATCH_BATCH_SIZE", default=1000)  # nodes per task
MONITORING_ALERT_RETRY_BASE_SECONDS = env.float("MONITORING_ALERT_RETRY_BASE_SECONDS", default=30.0)

# --- E-mail ---------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
if env.str("EMAIL_URL", default="").startswith("filemail://"):
    # django-environ reads `filemail:///abs/path` as `abs/path` and `filemail://a/b` as host `a`
    # + `b`: the directory is everything after the scheme, as written.
    EMAIL_FILE_PATH = env.str("EMAIL_URL").removeprefix("filemail://")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Groundstation <noreply@localhost>")

# --- API ------------------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)
# Tenant-scoped endpoints (core/api/tenancy.py): who turns the authenticated caller into a
# tenant and rights, and which permissions hold them to the policy table (tenants/policy.py).
# Core names no domain; the domains plug in here.
TENANT_CONTEXT_RESOLVER = "apikeys.tenancy.tenant_context"
TENANT_PERMISSION_CLASSES = ["tenants.api.permissions.TenantPolicyPermission"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apikeys.authentication.BearerCredentialAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],  # DRF's, safe against deep nesting
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.filters.StrictDjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": [],
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Groundstation API",
    "DESCRIPTION": "Self-hostable control plane for API platforms.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "UserStatusEnum": "accounts.models.User.Status",
        "VerificationStatusEnum": "accounts.models.User.Verification",
        "TenantStatusEnum": "tenants.models.Tenant.Status",
        "RoleEnum": "tenants.policy.Role",
    "InvoiceLineKindEnum": "billing.models.InvoiceLine.Kind",
    "KindEnum": "monitoring.models.AlertChannel.Kind",
        "InvitationStatusEnum": ["pending", "accepted", "revoked", "expired"],
        "MonitoringStatusEnum": "monitoring.models.Status",
        "ScopesEnum": "apikeys.api.serializers.SCOPE_CHOICES",  # `scopes` and its alias `permissions`
        "TypeEnum": "accounts.models.User.Type",  # the name it had before interactions also had a `type`
        "InteractionTypeEnum": "recommendations.models.InteractionType",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.add_error_responses",
        "core.api.schema.add_links",
        "core.api.schema.staff_last",  # staff endpoints at the end of the docs
    ],
}
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
METRICS_TOKEN = env_secret("METRICS_TOKEN", default="")

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["config.formats"]  # times with their zone everywhere in the console
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    # Tenant files (docs/files.md): `var/files` by default, any S3-compatible store in production.
    "files": storage_from_url(
        env.str("FILES_STORAGE_URL", default=""),
        default_location=VAR_DIR / "files",
        access_key=env.str("AWS_ACCESS_KEY_ID", default=""),
        secret_key=env_secret("AWS_SECRET_ACCESS_KEY", default=""),
    ),
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security -------------------------------------------------------------------------------
# Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER_ENABLED=true.
if env.bool("SECURE_PROXY_SSL_HEADER_ENABLED", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^health", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# --- Logging --------------------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="console" if DEBUG else "json")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
# Celery's routine "Sending due task" / "received" / "succeeded" lines: quiet in development.
TASK_EVENT_LOG_LEVEL = env.str("TASK_EVENT_LOG_LEVEL", default="DEBUG" if DEBUG else "INFO").upper()
LOGGING_CONFIG = None
from core.logging import configure_logging  # noqa: E402

configure_logging(log_format=LOG_FORMAT, level=LOG_LEVEL, task_event_level=TASK_EVENT_LOG_LEVEL)
