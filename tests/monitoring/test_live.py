"""Live status over WebSocket, with Channels' real routing and the configured channel layer."""
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from apikeys import services as apikey_services
from config.asgi import application
from monitoring import live, services
from tests.monitoring.factories import NodeFactory

ORIGIN = [(b"origin", b"http://localhost")]


@pytest.fixture(autouse=True)
def _fresh_layer():
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        async_to_sync(layer.flush)()


async def _connect(query: str):
    communicator = WebsocketCommunicator(application, f"/api/v1/ws/status?{query}", headers=ORIGIN)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def test_an_authenticated_client_receives_a_node_status_change(transactional_db, tenant, operator, allow_private,
                                                               server):
    node = NodeFactory(tenant=tenant, port=server.port, path="/ok")
    token = str(AccessToken.for_user(operator))

    async def scenario():
        communicator, connected, _ = await _connect(f"token={token}&tenant={tenant.slug}")
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(services.node_check_now)(node=node)
        change = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return hello, change

    hello, change = async_to_sync(scenario)()
    assert hello == {"event": "hello", "data": {"tenant": tenant.slug}}
    assert change["event"] == "node.status"
    assert change["data"]["node_id"] == str(node.pk)
    assert (change["data"]["previous_status"], change["data"]["status"]) == ("unknown", "up")
    assert change["at"].endswith("Z")


def test_an_api_key_connects_to_its_own_tenant_and_gets_published_run_events(transactional_db, tenant):
    _key, secret = apikey_services.api_key_create(tenant=tenant, name="ws", scopes=["read"])

    async def scenario():
        communicator, connected, _ = await _connect(f"token={secret}")
        assert connected
        await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(live.publish)(
            tenant_id=tenant.pk, event="run.status", data={"run_id": "r1", "status": "succeeded"}
        )
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    message = async_to_sync(scenario)()
    assert (message["event"], message["data"]) == ("run.status", {"run_id": "r1", "status": "succeeded"})


@pytest.mark.parametrize("query", ["", "token=", "token=not-a-jwt", "token=gsk_AAAAAAAAAAAA_" + "A" * 38])
def test_a_bad_token_is_refused(transactional_db, query):
    async def scenario():
        communicator, connected, code = await _connect(query)
        await communicator.disconnect()
        return connected, code

    assert async_to_sync(scenario)() == (False, 4403)


def test_a_foreign_tenant_is_refused_and_receives_nothing(transactional_db, tenant, other_tenant, outsider):
    token = str(AccessToken.for_user(outsider))

    async def scenario():
        refused = await _connect(f"token={token}&tenant={tenant.slug}")
        await refused[0].disconnect()
        own, connected, _ = await _connect(f"token={token}&tenant={other_tenant.slug}")
        assert connected
        await own.receive_json_from(timeout=5)
        await database_sync_to_async(live.publish)(tenant_id=tenant.pk, event="node.status", data={"x": 1})
        leaked = await own.receive_nothing(timeout=0.3)
        await own.disconnect()
        return refused[1], leaked

    connected, nothing_received = async_to_sync(scenario)()
    assert connected is False
    assert nothing_received is True


def test_publish_never_raises_without_listeners(db, tenant):
    live.publish(tenant_id=tenant.pk, event="node.status", data={"ok": True})
