"""Live status over WebSocket, with Channels' real routing and the configured channel layer.

Processes of their own (uvicorn, celery) are in tests/monitoring/test_live_processes.py.
"""
import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from apikeys import services as apikey_services
from config.asgi import application
from monitoring import live, services
from monitoring.models import LiveEvent
from tests.monitoring.factories import NodeFactory

ORIGIN = [(b"origin", b"http://localhost")]


@pytest.fixture(autouse=True)
def _fresh_layer():
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        async_to_sync(layer.flush)()


async def _connect(query: str, headers=ORIGIN, subprotocols=None):
    communicator = WebsocketCommunicator(
        application, f"/api/v1/ws/status?{query}", headers=headers, subprotocols=subprotocols
    )
    connected, subprotocol = await communicator.connect(timeout=5)
    return communicator, connected, subprotocol


async def _close_code(query: str, headers=ORIGIN) -> int:
    """Refusals complete the handshake, then close with a code that says why."""
    communicator, connected, _ = await _connect(query, headers)
    assert connected
    output = await communicator.receive_output(timeout=5)
    await communicator.disconnect()
    assert output["type"] == "websocket.close", output
    return output["code"]


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
def test_a_missing_or_bad_credential_is_closed_with_4401(transactional_db, query):
    assert async_to_sync(_close_code)(query) == 4401


def test_a_foreign_tenant_is_closed_with_4403_and_receives_nothing(transactional_db, tenant, other_tenant, outsider):
    token = str(AccessToken.for_user(outsider))

    async def scenario():
        refused = await _close_code(f"token={token}&tenant={tenant.slug}")
        own, connected, _ = await _connect(f"token={token}&tenant={other_tenant.slug}")
        assert connected
        await own.receive_json_from(timeout=5)
        await database_sync_to_async(live.publish)(tenant_id=tenant.pk, event="node.status", data={"x": 1})
        leaked = await own.receive_nothing(timeout=0.5)
        await own.disconnect()
        return refused, leaked

    assert async_to_sync(scenario)() == (4403, True)


def test_a_user_of_several_tenants_who_names_none_is_closed_with_4400(transactional_db, tenant, other_tenant,
                                                                        make_member):
    from tests.factories import MembershipFactory

    user = make_member(tenant)
    MembershipFactory(tenant=other_tenant, user=user)
    assert async_to_sync(_close_code)(f"token={AccessToken.for_user(user)}") == 4400


def test_a_foreign_origin_is_closed_with_4403(transactional_db, tenant, operator):
    query = f"token={AccessToken.for_user(operator)}&tenant={tenant.slug}"
    assert async_to_sync(_close_code)(query, [(b"origin", b"https://evil.example")]) == 4403


def _hello_with(query="", headers=(), subprotocols=None):
    async def scenario():
        communicator, connected, subprotocol = await _connect(query, list(headers), subprotocols)
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return subprotocol, hello

    return async_to_sync(scenario)()


def test_a_client_without_origin_connects_with_a_valid_credential(transactional_db, tenant, operator):
    subprotocol, hello = _hello_with(f"token={AccessToken.for_user(operator)}&tenant={tenant.slug}")
    assert (subprotocol, hello["event"]) == (None, "hello")


def test_the_credential_may_come_in_the_authorization_header(transactional_db, tenant):
    _key, secret = apikey_services.api_key_create(tenant=tenant, name="ws", scopes=["read"])
    subprotocol, hello = _hello_with(headers=[(b"authorization", f"Bearer {secret}".encode())])
    assert hello == {"event": "hello", "data": {"tenant": tenant.slug}}


def test_the_credential_may_come_in_the_subprotocol_offer_and_only_the_name_is_echoed(transactional_db, tenant,
                                                                                       operator):
    token = str(AccessToken.for_user(operator))
    subprotocol, hello = _hello_with(f"tenant={tenant.slug}", subprotocols=["groundstation", f"bearer.{token}"])
    assert (subprotocol, hello["event"]) == ("groundstation", "hello")


def test_text_ping_gets_pong_and_other_frames_an_error_on_an_open_connection(transactional_db, tenant):
    _key, secret = apikey_services.api_key_create(tenant=tenant, name="ws", scopes=["read"])

    async def scenario():
        communicator, connected, _ = await _connect(f"token={secret}", headers=[])
        assert connected
        await communicator.receive_json_from(timeout=5)
        answers = []
        await communicator.send_to(text_data="ping")
        answers.append(await communicator.receive_from(timeout=5))
        for frame in ({"text_data": "hello?"}, {"text_data": "[1, 2]"}, {"bytes_data": b"\x00\x01"},
                      {"text_data": '{"type": "subscribe"}'}):
            await communicator.send_to(**frame)
            answers.append(await communicator.receive_json_from(timeout=5))
        await communicator.send_json_to({"type": "ping"})
        answers.append(await communicator.receive_json_from(timeout=5))
        await communicator.disconnect()
        return answers

    pong, *errors, json_pong = async_to_sync(scenario)()
    assert pong == "pong"
    assert [e["data"]["code"] for e in errors] == ["INVALID_MESSAGE"] * 3 + ["UNKNOWN_MESSAGE"]
    assert all(e["event"] == "error" and e["data"]["message"] for e in errors)
    assert json_pong == {"event": "pong", "data": {}}


def test_events_another_process_appends_to_the_outbox_reach_the_client(transactional_db, tenant, settings):
    """What a worker does on the embedded default: it cannot reach this process's in-memory
    layer, so it writes the outbox row that this process's drainer reads."""
    settings.LIVE_OUTBOX = True
    _key, secret = apikey_services.api_key_create(tenant=tenant, name="ws", scopes=["read"])

    async def scenario():
        communicator, connected, _ = await _connect(f"token={secret}", headers=[])
        assert connected
        await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(LiveEvent.objects.create)(
            tenant_id=tenant.pk, event="run.status", data={"id": "r1", "status": "succeeded"}, at=timezone.now()
        )
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    message = async_to_sync(scenario)()
    assert (message["event"], message["data"]) == ("run.status", {"id": "r1", "status": "succeeded"})
    assert message["at"].endswith("Z")


@pytest.mark.parametrize("outbox", [False, True], ids=["channel-layer", "outbox"])
def test_publish_hands_the_event_to_the_transport_without_any_websocket_client(db, tenant, settings, outbox):
    """`publish()` swallows every transport error, so only what arrived proves it worked: the
    tenant group's message on the channel layer, or the outbox row the drainers read."""
    settings.LIVE_OUTBOX = outbox
    if outbox:
        live.publish(tenant_id=tenant.pk, event="node.status", data={"ok": True})
        row = LiveEvent.objects.get(tenant_id=tenant.pk)
        assert (row.event, row.data) == ("node.status", {"ok": True})
        return
    layer = get_channel_layer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add(live.tenant_group(tenant.pk), channel)
        await sync_to_async(live.publish)(tenant_id=tenant.pk, event="node.status", data={"ok": True})
        return await asyncio.wait_for(layer.receive(channel), timeout=5)

    message = async_to_sync(scenario)()
    assert {k: message[k] for k in ("type", "event", "data")} == {
        "type": live.MESSAGE_TYPE, "event": "node.status", "data": {"ok": True}}
    assert message["at"].endswith("Z")


def test_the_hourly_purge_prunes_the_outbox_when_no_web_process_drains_it(db, tenant):
    from datetime import timedelta

    from monitoring.tasks import purge_snapshots

    old = LiveEvent.objects.create(tenant_id=tenant.pk, event="node.status", data={},
                                   at=timezone.now() - timedelta(seconds=live.OUTBOX_KEEP_SECONDS + 5))
    recent = LiveEvent.objects.create(tenant_id=tenant.pk, event="node.status", data={}, at=timezone.now())
    purge_snapshots()
    assert list(LiveEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not LiveEvent.objects.filter(pk=old.pk).exists()
