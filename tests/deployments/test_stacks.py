"""Logs, status and restart of a project's stacks, against the real sshd and a stand-in `docker`
(a real script on the remote PATH, run by the real sshd)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.models import AuditEvent
from deployments import services
from deployments.models import Host
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.deployments.conftest import free_port
from tests.deployments.factories import OTHER_HOST_KEY, make_host, make_project
from tests.deployments.test_remote import wait_until_gone

# `docker compose …` as the tests need it: state from ps.json, logs from <service>.out, restarts
# appended to restarts.log, all in the project's directory (the command's working directory).
FAKE_DOCKER = r"""#!/bin/sh
[ "$1" = compose ] || { echo "fake docker: only compose" >&2; exit 2; }
shift
case "$1" in
  ps) cat ps.json ;;
  restart) shift; echo "$*" >> restarts.log; echo "Restarting $*" ;;
  logs)
    shift; follow=; tail=all
    while [ $# -gt 1 ]; do
      case "$1" in --follow) follow=1 ;; --tail) shift; tail=$1 ;; esac
      shift
    done
    [ -f "$1.out" ] || { echo "no such service: $1" >&2; exit 1; }
    if [ -n "$follow" ]; then exec tail -n "$tail" -F -- "$1.out"; else exec tail -n "$tail" -- "$1.out"; fi ;;
  *) echo "fake docker: unknown $1" >&2; exit 2 ;;
esac
"""


@pytest.fixture(scope="session")
def fake_docker(sshd):
    path = sshd.bin_dir / "docker"
    path.write_text(FAKE_DOCKER)
    path.chmod(0o755)
    return path


@pytest.fixture
def health_server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def stack(db, tenant, sshd, workdir, fake_docker, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the health server is on loopback
    (workdir / "logs").mkdir()
    (workdir / "logs" / "worker.log").write_text("".join(f"worker {n}\n" for n in range(50)))
    (workdir / "web.out").write_text("".join(f"web {n}\n" for n in range(50)))
    (workdir / "ps.json").write_text(
        json.dumps({"Service": "web", "State": "running", "Health": "healthy", "Status": "Up 5 minutes"}) + "\n"
        + json.dumps({"Service": "worker", "State": "exited", "Health": "", "Status": "Exited (1)"}) + "\n")
    host = make_host(tenant, sshd=sshd)
    return make_project(tenant, host, directory=str(workdir), services=[
        {"name": "web"},
        {"name": "worker", "log_file": "logs/worker.log", "restart": ["sh", "-c", "echo custom >> restarts.log"]},
    ])


@pytest.fixture
def operator(tenant, make_member):
    return bearer_client(make_member(tenant, Role.OPERATOR), tenant)


def test_a_log_file_tail(stack, operator):
    response = operator.get("/api/v1/projects/app/logs", {"service": "worker", "lines": 3})
    assert response.status_code == 200, response.content
    assert response.json() == {"project": "app", "service": "worker", "source": "log_file",
                               "lines": ["worker 47", "worker 48", "worker 49"], "truncated": False}


def test_the_compose_logs_tail_without_a_log_file(stack, operator):
    body = operator.get("/api/v1/projects/app/logs", {"service": "web", "lines": 2}).json()
    assert (body["source"], body["lines"]) == ("docker compose logs", ["web 48", "web 49"])


def test_a_tail_is_bounded_in_lines_and_bytes(stack, operator, settings):
    settings.DEPLOYMENTS_LOG_TAIL_MAX_LINES = 10
    response = operator.get("/api/v1/projects/app/logs", {"service": "web", "lines": 11})
    assert response.status_code == 400 and "lines" in response.json()["error"]["details"]
    settings.DEPLOYMENTS_LOG_MAX_BYTES = 20
    body = operator.get("/api/v1/projects/app/logs", {"service": "web", "lines": 10}).json()
    assert body["truncated"] and body["lines"] == ["web 48", "web 49"]  # "eb 47" was a fragment


@pytest.mark.parametrize("query", [{"service": "db"}, {}, {"service": "web", "lines": 0}, {"service": "../x"}])
def test_bad_log_queries_are_400(stack, operator, query):
    response = operator.get("/api/v1/projects/app/logs", query)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_log_file_that_leaves_the_directory_through_a_symlink_is_refused(stack, operator, workdir, tmp_path):
    secret = tmp_path / "secret.log"
    secret.write_text("root password\n")
    (workdir / "logs" / "worker.log").unlink()
    (workdir / "logs" / "worker.log").symlink_to(secret)
    response = operator.get("/api/v1/projects/app/logs", {"service": "worker"})
    assert response.status_code == 400
    assert "outside" in response.json()["error"]["details"]["service"][0]
    assert b"root password" not in response.content


def test_a_wrong_host_key_is_a_502_that_says_so(stack, operator):
    Host.objects.filter(pk=stack.host_id).update(host_key=OTHER_HOST_KEY)
    response = operator.get("/api/v1/projects/app/logs", {"service": "web"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "HOST_UNAVAILABLE" and "did not match the pin" in error["message"]


def test_status_per_service_with_health(stack, tenant, make_member, health_server):
    services.project_update(project=stack, services=[
        {"name": "web", "healthcheck_url": f"{health_server}/ok"},
        {"name": "worker", "healthcheck_url": f"{health_server}/down"},
        {"name": "cache"},
    ])
    viewer = bearer_client(make_member(tenant, Role.VIEWER), tenant)
    body = viewer.get("/api/v1/stacks/app/status").json()
    assert (body["reachable"], body["error"]) == (True, "")
    web, worker, cache = body["services"]
    assert (web["state"], web["container_health"], web["healthcheck"]["ok"]) == ("running", "healthy", True)
    assert (worker["state"], worker["healthcheck"]["status_code"], worker["healthcheck"]["ok"]) == ("exited", 503,
                                                                                                    False)
    assert (cache["state"], cache["healthcheck"]) == ("absent", None)


def test_status_of_an_unreachable_host_says_why(stack, operator):
    Host.objects.filter(pk=stack.host_id).update(port=free_port())
    body = operator.get("/api/v1/stacks/app/status").json()
    assert body["reachable"] is False and "cannot reach" in body["error"]
    assert {service["state"] for service in body["services"]} == {"unknown"}


def test_restart_one_service_and_all_are_audited(stack, operator, workdir):
    response = operator.post("/api/v1/stacks/app/restart", {"service": "web"}, format="json")
    assert response.status_code == 200, response.content
    [result] = response.json()["results"]
    assert (result["service"], result["ok"], result["stdout"]) == ("web", True, "Restarting web\n")
    assert (workdir / "restarts.log").read_text() == "web\n"
    assert [r["service"] for r in operator.post("/api/v1/stacks/app/restart", {}, format="json").json()["results"]] \
        == ["web", "worker"]
    assert (workdir / "restarts.log").read_text() == "web\nweb\ncustom\n"
    events = AuditEvent.objects.filter(action="stack.restart", target_id=str(stack.pk)).order_by("created_at")
    assert [e.changes["services"] for e in events] == [["web"], ["web", "worker"]]
    assert all(e.changes["config_hash"] == stack.config_hash and e.actor_id for e in events)


def test_restart_of_an_unknown_service_is_400_and_runs_nothing(stack, operator, workdir):
    response = operator.post("/api/v1/stacks/app/restart", {"service": "db; reboot"}, format="json")
    assert response.status_code == 400
    assert not (workdir / "restarts.log").exists()


def test_a_follow_without_the_event_stream_accept_is_400(stack, operator):
    response = operator.get("/api/v1/projects/app/logs", {"service": "web", "follow": "true"})
    assert response.status_code == 400


def test_the_sync_event_stream_follows_and_ends_at_its_bound(stack, operator, settings, workdir):
    settings.DEPLOYMENTS_LOG_IDLE_SECONDS = 1
    response = operator.get("/api/v1/projects/app/logs", {"service": "worker", "lines": 2},
                            HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    text = b"".join(response.streaming_content).decode()
    assert text.count("event: log") == 2 and '"reason": "idle_seconds"' in text
    response.close()
    assert wait_until_gone(f"tail -n 2 -F -- {workdir}/logs/worker.log") == []


def test_a_restart_on_an_unreachable_host_is_502_and_audited_with_the_error(stack, operator):
    Host.objects.filter(pk=stack.host_id).update(port=free_port())
    response = operator.post("/api/v1/stacks/app/restart", {"service": "web"}, format="json")
    assert response.status_code == 502 and response.json()["error"]["code"] == "HOST_UNAVAILABLE"
    event = AuditEvent.objects.get(action="stack.restart", target_id=str(stack.pk))
    assert event.changes["services"] == ["web"] and "cannot reach" in event.changes["error"]


def test_another_tenants_project_is_404(stack, other_tenant, make_member):
    outsider = bearer_client(make_member(other_tenant, Role.OWNER), other_tenant)
    for response in (outsider.get("/api/v1/stacks/app/status"), outsider.get("/api/v1/projects/app/logs"),
                     outsider.post("/api/v1/stacks/app/restart", {}, format="json")):
        assert response.status_code == 404
