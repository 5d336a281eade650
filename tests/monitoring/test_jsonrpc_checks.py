"""JSON-RPC checks against a real local JSON-RPC server, metrics read from answers, and how
both are configured (API validation, seed_nodes)."""
import json

import pytest
from django.core.management import CommandError, call_command

from monitoring import services
from monitoring.check_config import MAX_METRICS
from monitoring.models import Node, Snapshot, Status
from tests.monitoring.factories import NodeFactory
from tests.monitoring.servers import jsonrpc_server

pytestmark = pytest.mark.django_db

STATUS = {
    "status": "ok",
    "synced": True,
    "networks": {
        "BNB Chain": {"wrapsToSign": 3, "unwrapsToSign": 1},
        "Ethereum": {"wrapsToSign": 0, "unwrapsToSign": 7.5},
        "Supernova": {"wrapsToSign": "n/a"},
    },
}
METRICS = {
    "bnb.wraps": "networks.BNB Chain.wrapsToSign",
    "eth.unwraps": "networks.Ethereum.unwrapsToSign",
    "supernova.wraps": "networks.Supernova.wrapsToSign",  # not a number: not recorded
    "absent": "networks.Polygon.wrapsToSign",  # not in the answer: not recorded
}


@pytest.fixture
def rpc():
    with jsonrpc_server() as server:
        server.status = STATUS
        yield server


def rpc_node(tenant, rpc, **fields):
    return NodeFactory(tenant=tenant, check_type=Node.CheckType.JSONRPC, port=rpc.port, path="/rpc",
                       rpc_method="getStatus", **fields)


def check(client, node):
    response = client.post(f"/api/v1/nodes/{node.pk}/check")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_jsonrpc_node_answering_its_call_is_up_and_its_metrics_are_recorded(ops, tenant, allow_private, rpc):
    node = rpc_node(tenant, rpc, rpc_params={"verbose": True}, expected_result="status", expected_result_value="ok",
                    metrics=METRICS)
    body = check(ops, node)
    assert (body["status"], body["http_status"], body["error"]) == ("up", 200, "")
    path, content_type, call = rpc.calls[0]
    assert (path, content_type) == ("/rpc", "application/json")
    assert call == {"jsonrpc": "2.0", "id": 1, "method": "getStatus", "params": {"verbose": True}}
    assert Snapshot.objects.get(node=node).metrics == {"bnb.wraps": 3.0, "eth.unwraps": 7.5}
    node.refresh_from_db()
    assert node.last_metrics == {"bnb.wraps": 3.0, "eth.unwraps": 7.5}


def test_a_call_without_params_sends_none(ops, tenant, allow_private, rpc):
    check(ops, rpc_node(tenant, rpc))
    assert "params" not in rpc.calls[0][2]


def test_an_error_object_is_a_failed_check_with_its_message(ops, tenant, allow_private, rpc):
    node = rpc_node(tenant, rpc, metrics=METRICS)
    node.rpc_method = "getNothing"
    node.save()
    body = check(ops, node)
    assert body["status"] == "down"
    assert body["error"] == "JSON-RPC error -32601: Method not found"
    assert Snapshot.objects.get(node=node).metrics is None


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("status", "syncing", "result field 'status' is 'ok', expected 'syncing'"),
        ("networks.Polygon", "", "result field 'networks.Polygon' is missing"),
        ("synced", "false", "result field 'synced' is True, expected 'false'"),
    ],
)
def test_a_wrong_or_missing_result_is_a_failed_check(ops, tenant, allow_private, rpc, path, value, error):
    node = rpc_node(tenant, rpc, expected_result=path, expected_result_value=value, metrics=METRICS)
    body = check(ops, node)
    assert (body["status"], body["error"]) == ("down", error)
    node.refresh_from_db()
    assert node.last_metrics == {}  # a failed check records no metric


def test_an_expected_boolean_compares_as_json_spells_it(ops, tenant, allow_private, rpc):
    node = rpc_node(tenant, rpc, expected_result="synced", expected_result_value="true")
    assert check(ops, node)["status"] == "up"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"hello", "not a JSON-RPC 2.0 answer with a result"),
        (b'{"jsonrpc": "2.0", "id": 1}', "not a JSON-RPC 2.0 answer with a result"),
        (b'{"jsonrpc": "2.0", "id": 7, "result": {}}', "JSON-RPC answer to another call (id 7)"),
    ],
)
def test_an_answer_that_is_no_jsonrpc_result_is_a_failed_check(ops, tenant, allow_private, rpc, raw, error):
    rpc.raw = raw
    assert check(ops, rpc_node(tenant, rpc))["error"] == error


def test_the_outbound_guard_refuses_a_loopback_jsonrpc_node_without_calling_it(ops, tenant, rpc):
    body = check(ops, rpc_node(tenant, rpc))
    assert (body["status"], body["configuration_error"]) == ("unknown", True)
    assert rpc.calls == []


def test_an_http_check_records_metrics_from_its_json_body(ops, tenant, allow_private, server):
    node = NodeFactory(tenant=tenant, port=server.port, path="/json", metrics={"version": "version"})
    check(ops, node)
    assert Snapshot.objects.get(node=node).metrics == {"version": 3.0}


def test_a_metric_missing_from_an_answer_keeps_its_latest_value(ops, tenant, allow_private, rpc):
    node = rpc_node(tenant, rpc, metrics=METRICS)
    check(ops, node)
    rpc.status = {"networks": {"Ethereum": {"unwrapsToSign": 2}}}
    check(ops, node)
    node.refresh_from_db()
    assert node.last_metrics == {"bnb.wraps": 3.0, "eth.unwraps": 2.0}
    services.node_update(node=node, metrics={"eth.unwraps": METRICS["eth.unwraps"]})
    node.refresh_from_db()
    assert node.last_metrics == {"eth.unwraps": 2.0}  # a metric no longer declared is dropped


def test_the_sweep_writes_metrics_in_bulk(tenant, allow_private, rpc, django_assert_max_num_queries):
    nodes = [rpc_node(tenant, rpc, metrics=METRICS) for _ in range(3)]
    NodeFactory(tenant=tenant, port=1, path="/", check_type=Node.CheckType.TCP)
    token, claimed = services.nodes_claim_due()
    # As many statements for 4 nodes as for 1: the SELECT, the state UPDATE, one merge of the
    # latest metrics, the snapshots' COPY, the transaction.
    with django_assert_max_num_queries(8):
        services.nodes_run_claimed(token=token, node_ids=claimed)
    assert sorted(Snapshot.objects.filter(node__in=nodes).values_list("metrics", flat=True),
                  key=json.dumps) == [{"bnb.wraps": 3.0, "eth.unwraps": 7.5}] * 3
    assert {n.last_metrics["bnb.wraps"] for n in Node.objects.filter(pk__in=[n.pk for n in nodes])} == {3.0}
    assert Node.objects.filter(pk__in=[n.pk for n in nodes], status=Status.UP).count() == 3


# --- Configuration ---------------------------------------------------------------------------
NODE = {"name": "orchestrator-1", "address": "10.0.0.7", "port": 8545, "check": "jsonrpc", "path": "/",
        "method": "getStatus", "params": [], "expected_result": "status", "expected_result_value": "ok",
        "metrics": {"bnb.wraps": "networks.BNB Chain.wrapsToSign"}, "interval_seconds": 30}


def test_an_operator_configures_a_jsonrpc_node_with_metrics(ops, tenant):
    created = ops.post("/api/v1/nodes", NODE, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert {k: body[k] for k in NODE} == NODE
    assert body["last_metrics"] == {}
    node = Node.objects.get(pk=body["id"])
    assert (node.check_type, node.rpc_method, node.rpc_params) == ("jsonrpc", "getStatus", [])
    changed = ops.patch(f"/api/v1/nodes/{node.pk}", {"params": {"network": "BNB Chain"}}, format="json")
    assert changed.json()["params"] == {"network": "BNB Chain"}


@pytest.mark.parametrize(
    "change",
    [
        {"method": ""},
        {"method": "get\nStatus"},
        {"params": "getStatus"},
        {"params": 3},
        {"params": ["x" * 5000]},
        {"params": ["nul\u0000"]},
        {"expected_result": "networks..BNB"},
        {"expected_result": ".status"},
        {"metrics": ["networks.BNB Chain.wrapsToSign"]},
        {"metrics": {"x" * 65: "a.b"}},
        {"metrics": {" padded": "a.b"}},
        {"metrics": {"bnb": ""}},
        {"metrics": {"bnb": "networks.BNB Chain."}},
        {"metrics": {"bnb": 3}},
        {"metrics": {f"m{i}": "a.b" for i in range(MAX_METRICS + 1)}},
        {"check": "tcp"},  # with metrics: a TCP check has no answer to read
    ],
)
def test_it_rejects_bad_jsonrpc_and_metric_settings(ops, tenant, change):
    response = ops.post("/api/v1/nodes", {**NODE, **change}, format="json")
    assert response.status_code == 400, (change, response.content)
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not Node.objects.filter(tenant=tenant).exists()


def test_a_metric_name_of_the_longest_length_and_the_most_metrics_are_accepted(ops):
    metrics = {f"{i:02d}" + "m" * 62: "a.b" for i in range(MAX_METRICS)}
    assert ops.post("/api/v1/nodes", {**NODE, "metrics": metrics}, format="json").status_code == 201


def test_a_node_switched_to_jsonrpc_needs_a_method(ops, tenant):
    node = NodeFactory(tenant=tenant)
    response = ops.patch(f"/api/v1/nodes/{node.pk}", {"check": "jsonrpc"}, format="json")
    assert response.status_code == 400
    assert "method" in response.json()["error"]["details"]


def test_seed_nodes_checks_bare_entries_with_jsonrpc_and_reads_declared_calls(tmp_path, tenant):
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps([
        {"name": "anvil", "ip": "5.161.213.40"},
        {"name": "forge", "ip": "5.161.213.41", "check": {"type": "jsonrpc", "method": "status", "params": [1],
                                                          "metrics": METRICS}},
    ]))
    call_command("seed_nodes", "--json", str(path), "--tenant", tenant.slug, "--check", "jsonrpc", "--port", "8545")
    anvil, forge = Node.objects.filter(tenant=tenant).order_by("name")
    assert (anvil.check_type, anvil.port, anvil.rpc_method) == ("jsonrpc", 8545, "getStatus")
    assert (forge.rpc_method, forge.rpc_params, forge.metrics) == ("status", [1], METRICS)


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"type": "jsonrpc", "metrics": {"": "a"}}, "entry 0 (anvil): check metrics: Metric name ''"),
        ({"type": "jsonrpc", "params": "x"}, "entry 0 (anvil): check params: JSON-RPC params are a list"),
        ({"type": "tcp", "metrics": {"a": "b"}}, "entry 0 (anvil): metrics: Metrics are read from an answer"),
        ({"type": "jsonrpc", "method": ""}, "entry 0 (anvil): rpc_method: A jsonrpc check needs a method"),
    ],
)
def test_seed_nodes_names_a_bad_check_and_changes_nothing(tmp_path, tenant, check, message):
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps([{"name": "anvil", "ip": "5.161.213.40", "check": check}]))
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("seed_nodes", "--json", str(path), "--tenant", tenant.slug)
    assert not Node.objects.filter(tenant=tenant).exists()
