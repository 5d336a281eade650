"""Family 7 (complements tests/config/test_deploy.py): what a client of a production process
really receives. The settings are the production defaults (DEBUG off, nothing overridden but
the proxy header), loaded in a fresh process, and requests go through Django's full stack.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.hardening import figures

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
from django.conf import settings
settings.ALLOWED_HOSTS = ["api.example.com", "testserver"]
c = Client(HTTP_HOST="api.example.com")
https = c.get("/health", HTTP_X_FORWARDED_PROTO="https")
plain = c.get("/api/v1/tenants")
login = c.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
api_error = c.get("/api/v1/nope", HTTP_X_FORWARDED_PROTO="https")
cookies = {name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
           for name, m in login.cookies.items()}
print(json.dumps({
    "hsts": https.get("Strict-Transport-Security"), "plain_status": plain.status_code,
    "plain_location": plain.get("Location"), "cookies": cookies, "error_body": api_error.content.decode(),
    "error_headers": {k: api_error.get(k) for k in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")},
}))
"""


def test_a_production_process_sends_hsts_secure_cookies_and_redirects_plain_http():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SECURE_", "SESSION_", "CSRF_", "DEBUG", "ALLOWED_HOSTS"))}
    env.update(DEBUG="false", SECRET_KEY="prod-like-" + "k" * 60, ALLOWED_HOSTS="api.example.com",
               SECURE_PROXY_SSL_HEADER_ENABLED="true", LOG_LEVEL="ERROR")
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["plain_status"] == 301 and seen["plain_location"].startswith("https://api.example.com/")
    assert seen["cookies"]["csrftoken"]["secure"] is True
    assert seen["error_headers"] == {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                                     "Referrer-Policy": "same-origin"}
    error = json.loads(seen["error_body"])["error"]
    assert error["code"] == "NOT_FOUND" and "Traceback" not in seen["error_body"]
    figures.record("deploy.production_process", hsts=seen["hsts"], plain_http="301 to https",
                   csrf_cookie_secure=True)
