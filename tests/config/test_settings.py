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
