"""Settings fail fast where production would be unsafe."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(**env):
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    clean["ENV_FILE"] = os.devnull  # not the developer's .env (`make run` writes one with a SECRET_KEY)
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_debug_false_without_secret_key_fails_with_a_clear_message():
    result = _import_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_debug_true_without_secret_key_runs():
    assert _import_settings(DEBUG="true").returncode == 0


def test_filemail_with_three_slashes_writes_to_that_absolute_directory(tmp_path):
    """django-environ reads `filemail:///abs/path` as the relative `abs/path` (and the first
    segment of `filemail://a/b` as a host); the settings take the path as written."""
    outbox = tmp_path / "mail"
    script = (
        "import django; django.setup(); from django.conf import settings; from django.core.mail import send_mail;"
        "send_mail('s', 'b', 'from@example.com', ['to@example.com']); print(settings.EMAIL_FILE_PATH)"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(ENV_FILE=os.devnull, DEBUG="true", DJANGO_SETTINGS_MODULE="config.settings",
               EMAIL_URL=f"filemail://{outbox}")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(outbox)
    assert len(list(outbox.iterdir())) == 1


def test_filemail_with_a_relative_path_keeps_every_segment():
    result = subprocess.run(
        [sys.executable, "-c", "from config import settings; print(settings.EMAIL_FILE_PATH)"],
        cwd=ROOT, capture_output=True, text=True,
        env={**{k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}},
             "ENV_FILE": os.devnull, "DEBUG": "true", "EMAIL_URL": "filemail://var/mail"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "var/mail"


def test_a_default_poll_interval_below_the_floor_fails_at_start_up_with_a_clear_message():
    result = _import_settings(DEBUG="true", MONITORING_DEFAULT_INTERVAL_SECONDS="5")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "MONITORING_DEFAULT_INTERVAL_SECONDS must be between 10 and 86400 seconds; it is 5." in result.stderr
    assert _import_settings(DEBUG="true", MONITORING_DEFAULT_INTERVAL_SECONDS="10").returncode == 0


def test_a_management_command_reports_a_missing_secret_key_in_one_line_without_a_traceback():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"}}
    env.update(ENV_FILE=os.devnull, DEBUG="false")
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Configuration error: SECRET_KEY is required when DEBUG is false.")
    assert "Traceback" not in result.stderr and "AppRegistryNotReady" not in result.stderr
