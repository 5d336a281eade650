"""The log follow through the real ASGI application (config.asgi), as uvicorn drives it: bounded,
and ended cleanly — no SSH channel or remote `tail` left — when the client disconnects."""
import asyncio

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from config.asgi import application
from tenants.policy import Role
from tests.deployments.test_remote import remote_processes, wait_until_gone
from tests.deployments.test_stacks import fake_docker, stack  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_persistent_connections(monkeypatch):
    """The ASGI handler's threads would keep their connections past the test (and PostgreSQL
    then refuses to drop the test database): closed after each request, as in a live worker."""
    from django.db import connections

    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


def scope_for(user, tenant, query: bytes) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/api/v1/projects/app/logs", "raw_path": b"/api/v1/projects/app/logs", "query_string": query,
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"accept", b"text/event-stream"),
                    (b"authorization", f"Bearer {AccessToken.for_user(user)}".encode()),
                    (b"x-tenant", tenant.slug.encode())],
    }


async def call(scope: dict, *, leave_after_first_line: bool) -> tuple[int, bytes]:
    """Drive one request; optionally disconnect once a log line arrived. (status, body)."""
    left = asyncio.Event()
    requested = False
    status, body = None, b""

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")
            if leave_after_first_line and b"event: log" in body:
                left.set()

    await asyncio.wait_for(application(scope, receive, send), 30)
    return status, body


def test_a_client_that_leaves_ends_the_stream_and_the_remote_tail(stack, tenant, make_member, workdir):  # noqa: F811
    user = make_member(tenant, Role.OPERATOR)
    pattern = f"tail -n 2 -F -- {workdir}/logs/worker.log"
    status, body = asyncio.run(call(scope_for(user, tenant, b"service=worker&lines=2"), leave_after_first_line=True))
    assert status == 200 and b'"line": "worker 48"' in body and b"event: end" not in body
    assert wait_until_gone(pattern) == [], remote_processes(pattern)


def test_the_stream_stops_at_the_line_bound(stack, tenant, make_member, settings):  # noqa: F811
    settings.DEPLOYMENTS_LOG_MAX_LINES = 3
    user = make_member(tenant, Role.OPERATOR)
    status, body = asyncio.run(call(scope_for(user, tenant, b"service=worker&lines=10"), leave_after_first_line=False))
    assert status == 200 and body.count(b"event: log") == 3
    assert body.rstrip().endswith(b'{"reason": "max_lines", "lines": 3}')


def test_a_viewer_may_not_follow_logs(stack, tenant, make_member):  # noqa: F811
    user = make_member(tenant, Role.VIEWER)
    status, body = asyncio.run(call(scope_for(user, tenant, b"service=worker"), leave_after_first_line=False))
    assert status == 403 and b"FORBIDDEN" in body
