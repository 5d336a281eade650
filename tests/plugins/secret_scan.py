"""Secrets never reach the logs: a whole-run check.

Every secret the test run creates (API keys, personal tokens, JWTs, random tokens, passwords,
e-mail and invitation tokens, webhook signing secrets, tenant secret values) is remembered;
every log line of the run is written, formatted as in production, to `artifacts/test-run.log`.
Tests that start real processes (uvicorn, celery) add those processes' whole output with
`include_log()`, and `remember()` the secrets those processes made. At the end the logs are
searched for each secret; any hit fails the run. The figures go to `artifacts/secret-scan.json`.
Under pytest-xdist each worker writes `test-run-gwN.log` and scans its own, and the controller
adds the workers' figures up and fails the run if any found a secret.
"""
import contextlib
import json
import logging
import os
import secrets
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
# One file per process, so parallel runs (pytest -n) don't write over each other.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
LOG_FILE = ARTIFACTS / (f"test-run-{_WORKER}.log" if _WORKER else "test-run.log")
SCAN_REPORT = ARTIFACTS / (f"secret-scan-{_WORKER}.json" if _WORKER else "secret-scan.json")
MIN_SECRET_LENGTH = 8
_created: set[str] = set()
_process_logs: list[Path] = []


def include_log(path) -> None:
    """Scan this file too at the end: the stdout/stderr of a process a test started."""
    _process_logs.append(Path(path))


def remember(value) -> None:
    if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
        _created.add(value)


def _recording(function, pick=lambda result: result):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        remember(pick(result))
        return result

    wrapper.__wrapped__ = function
    return wrapper


# Installed at plugin import, before any application module binds these names.
secrets.token_urlsafe = _recording(secrets.token_urlsafe)
secrets.token_hex = _recording(secrets.token_hex)


def pytest_configure(config):
    from django.contrib.auth.base_user import AbstractBaseUser
    from rest_framework_simplejwt.tokens import Token

    from core import credentials

    credentials.generate = _recording(credentials.generate, pick=lambda result: result[1])
    Token.__str__ = _recording(Token.__str__)
    original_set_password = AbstractBaseUser.set_password

    def set_password(self, raw_password):
        remember(raw_password)
        return original_set_password(self, raw_password)

    AbstractBaseUser.set_password = set_password
    _record_signed_tokens_and_vault_values()

    ARTIFACTS.mkdir(exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(LOG_FILE, mode="w")
    handler.setLevel(logging.DEBUG)
    if root.handlers:
        handler.setFormatter(root.handlers[0].formatter)
        for existing in root.handlers:
            existing.setLevel(max(existing.level, root.level))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for noisy in ("asyncio", "urllib3", "selenium", "faker", "factory", "httpcore", "amqp", "kombu", "celery"):
        logging.getLogger(noisy).setLevel(logging.INFO)


def _record_signed_tokens_and_vault_values() -> None:
    """E-mail verification and reset tokens, invitation tokens, webhook signing secrets and
    tenant secret values are not random draws above: they are signed or derived, so they are
    remembered where they are made (patched at the source, so every importer sees it)."""
    from django.contrib.auth.tokens import PasswordResetTokenGenerator
    from django.core import signing

    from monitoring import alerts
    from orchestration import vault

    signing.dumps = _recording(signing.dumps)  # verification tokens (and any other signed payload)
    signing.Signer.sign = _recording(signing.Signer.sign)  # invitation tokens
    PasswordResetTokenGenerator.make_token = _recording(PasswordResetTokenGenerator.make_token)
    alerts.signing_secret = _recording(alerts.signing_secret)  # webhook signing secrets
    original_encrypt = vault.encrypt

    def encrypt(value: str) -> str:
        remember(value)  # a tenant secret's plaintext
        return original_encrypt(value)

    vault.encrypt = encrypt


def pytest_sessionfinish(session, exitstatus):
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(ValueError):  # a stream pytest already closed
            handler.flush()
    text = LOG_FILE.read_text(errors="replace") if LOG_FILE.exists() else ""
    text += "".join(path.read_text(errors="replace") for path in _process_logs if path.exists())
    leaked = sorted(s for s in _created if s in text)
    report = {"secrets_created": len(_created), "log_bytes": len(text), "secrets_found_in_logs": len(leaked)}
    SCAN_REPORT.write_text(json.dumps(report, indent=2))
    hints = [f"{value[:6]}… ({len(value)} chars)" for value in leaked[:10]]
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its exit status is not the run's, so the controller judges
        workeroutput["secret_scan"] = {**report, "hints": hints}
        return
    for worker in _worker_reports:
        for key in report:
            report[key] += worker[key]
        hints += worker["hints"]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.write_line(
            f"secret scan: {report['secrets_created']} secrets created, {report['log_bytes']} bytes of logs, "
            f"{report['secrets_found_in_logs']} found in logs"
        )
    if report["secrets_found_in_logs"]:
        if reporter:
            for hint in hints:
                reporter.write_line(f"  LEAKED: {hint}", red=True)
        session.exitstatus = 1


_worker_reports: list[dict] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """The controller of a parallel run (pytest -n) collects each worker's verdict."""
    report = getattr(node, "workeroutput", {}).get("secret_scan")
    if report is None:  # a worker that crashed before its end: its tests failed, and say so
        return
    _worker_reports.append(report)
