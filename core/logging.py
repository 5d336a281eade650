"""Structured logging: JSON lines or console output, request context on every line, no secrets."""
import functools
import json
import logging.config
import re
from datetime import UTC, datetime

import structlog

SENSITIVE_KEY = re.compile(r"pass(word)?|secret|token|authorization|api[_-]?key|cookie|digest", re.I)
# Credentials of ours, JWTs, and `Bearer …` values, wherever they appear in a message.
SENSITIVE_VALUE = re.compile(
    r"\b(gs[kp]_[A-Za-z0-9]+_[A-Za-z0-9]+|eyJ[\w-]+\.[\w-]+\.[\w-]+)|(?i:bearer\s+)\S+"
)
# Query parameters that carry credentials (`?token=…` of the WebSocket and the e-mailed links),
# e.g. in the ASGI server's "WebSocket /api/v1/ws/status?token=…" lines.
SENSITIVE_QUERY = re.compile(
    r"(?i)([?&;](?:token|access_token|refresh|key|api_key|apikey|secret|password|signature)=)[^&;\s\"'#]+"
)
REDACTED = "[redacted]"


@functools.lru_cache(maxsize=1024)
def _sensitive_key(key: str) -> bool:
    return SENSITIVE_KEY.search(key) is not None


def _redact_text(value: str) -> str:
    # Each pattern is tried only where it can match (a plain substring test costs a fraction of
    # a regex pass): every line of every request goes through here.
    if "gsk_" in value or "gsp_" in value or "eyJ" in value or "bearer" in value.lower():
        value = SENSITIVE_VALUE.sub(REDACTED, value)
    if "=" in value:
        value = SENSITIVE_QUERY.sub(rf"\1{REDACTED}", value)
    return value


def redact(value):
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _sensitive_key(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


def redact_secrets(_logger, _method, event_dict):
    return redact(event_dict)


class AccessLineFormatter(logging.Formatter):
    """The access log's JSON line, built directly: structlog's formatter copies each record and
    walks every processor, about 0.25 ms per line, paid by every request. The line has the same
    keys as the others (timestamp, level, logger, event, request id, the extras) and goes
    through the same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "event": record.getMessage(),
            **structlog.contextvars.get_contextvars(),
            **{name: value for name, value in record.__dict__.items() if name not in RECORD_KEYS},
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
        }
        return json.dumps(redact(line))


# What every LogRecord has; anything else on a record came in as `extra`.
RECORD_KEYS = frozenset(logging.LogRecord("name", 0, "pathname", 0, "msg", (), None).__dict__) | {"message"}


# Routine task traffic, logged by Celery at INFO several times every few seconds (beat's dispatch
# and usage flush run every 5 s): (logger, message template) pairs, logged at TASK_EVENT_LOG_LEVEL.
TASK_EVENTS = {
    ("celery.beat", "Scheduler: Sending due task %s (%s)"),
    ("celery.worker.strategy", "Task %(name)s[%(id)s] received"),
    ("celery.app.trace", "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"),
}


class TaskEventLevel(logging.Filter):
    """Re-levels Celery's routine task messages; failures and retries keep their own level."""

    def __init__(self, level: str):
        super().__init__()
        self.level = logging.getLevelName(level)

    def filter(self, record: logging.LogRecord) -> bool:
        if (record.name, record.msg) in TASK_EVENTS:
            record.levelno, record.levelname = self.level, logging.getLevelName(self.level)
            return logging.getLogger(record.name).isEnabledFor(self.level)
        return True


def configure_logging(*, log_format: str, level: str, task_event_level: str = "INFO") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared[:-1],
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "access": {"()": AccessLineFormatter},
                "structured": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "foreign_pre_chain": shared,
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        redact_secrets,
                        renderer,
                    ],
                }
            },
            "filters": {"task_events": {"()": TaskEventLevel, "level": task_event_level.upper()}},
            "handlers": {
                "console": {"class": "logging.StreamHandler", "formatter": "structured"},
                "access": {"class": "logging.StreamHandler",
                           "formatter": "access" if log_format == "json" else "structured"},
            },
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                # Our access log replaces Django's per-request lines.
                "django.server": {"level": "WARNING"},
                "django.request": {"level": "ERROR"},
                # Its DEBUG lines ("Exception while resolving variable …") print the whole template
                # context, e.g. the token an e-mailed link's page carries in its form.
                "django.template": {"level": "INFO"},
                # The ASGI server's loggers write through the same redacting handler (uvicorn's
                # own handlers would print request lines, query strings included, verbatim).
                "uvicorn": {"handlers": ["console"], "level": level, "propagate": False},
                "uvicorn.error": {"level": level},
                "uvicorn.access": {"level": "WARNING"},
                "groundstation.access": {"handlers": ["access"], "propagate": False},
                # SSH transport threads log each failed connection's traceback at ERROR; the
                # deployments app raises the same failure as an exception with a clear message.
                "paramiko": {"level": "CRITICAL"},
                **{name: {"filters": ["task_events"]} for name in sorted({name for name, _ in TASK_EVENTS})},
            },
        }
    )
