"""Revoking access closes the live-status WebSockets that were opened with it, within seconds.

Before the fix an open connection kept receiving its tenant's events after its key was revoked,
its member removed, its tenant suspended, its account blocked or its personal token revoked.
"""
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services as account_services
from accounts.models import User
from apikeys import services as apikey_services
from monitoring import live
from tenants import services as tenant_services
from tenants.models import Membership
from tenants.policy import Role
from tests.monitoring.test_live import _connect

CLOSE_WITHIN_SECONDS = 5


@pytest.fixture(autouse=True)
def _fresh_layer():
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        async_to_sync(layer.flush)()


def _closed_after(query: str, revoke) -> dict:
    """Connect, see `hello`, run `revoke` (sync, committed), return the next output."""
    async def scenario():
        communicator, connected, _ = await _connect(query, headers=[])
        assert connected
        hello = await communicator.receive_json_from(timeout=5)
        assert hello["event"] == "hello", hello
        await database_sync_to_async(revoke)()
        output = await communicator.receive_output(timeout=CLOSE_WITHIN_SECONDS)
        await communicator.disconnect()
        return output

    return async_to_sync(scenario)()


def test_revoking_a_key_closes_its_websocket(transactional_db, tenant):
    key, secret = apikey_services.api_key_create(tenant=tenant, name="ws", scopes=["read"])
    output = _closed_after(f"token={secret}", lambda: apikey_services.api_key_revoke(key=key))
    assert output == {"type": "websocket.close", "code": 4401}


def test_rotating_a_key_closes_the_websocket_of_the_old_secret(transactional_db, tenant):
    key, secret = apikey_services.api_key_create(tenant=tenant, name="ws", scopes=["read"])
    output = _closed_after(f"token={secret}", lambda: apikey_services.api_key_rotate(key=key))
    assert output == {"type": "websocket.close", "code": 4401}


def test_removing_a_member_closes_their_websocket(transactional_db, tenant, make_member):
    member = make_member(tenant, Role.VIEWER)
    make_member(tenant, Role.OWNER)
    token = AccessToken.for_user(member)

    def remove():
        tenant_services.membership_remove(membership=Membership.objects.get(tenant=tenant, user=member))

    output = _closed_after(f"token={token}&tenant={tenant.slug}", remove)
    assert output == {"type": "websocket.close", "code": 4403}


def test_suspending_a_tenant_closes_its_websockets(transactional_db, tenant):
    _key, secret = apikey_services.api_key_create(tenant=tenant, name="ws", scopes=["read"])
    output = _closed_after(f"token={secret}", lambda: tenant_services.tenant_suspend(tenant=tenant))
    assert output == {"type": "websocket.close", "code": 4403}


def test_blocking_a_user_closes_their_websocket(transactional_db, tenant, make_member):
    member = make_member(tenant, Role.OPERATOR)
    token = AccessToken.for_user(member)
    output = _closed_after(
        f"token={token}&tenant={tenant.slug}",
        lambda: account_services.user_set_status(user=member, status=User.Status.BLOCKED),
    )
    assert output == {"type": "websocket.close", "code": 4401}


def test_revoking_a_personal_token_closes_its_websocket(transactional_db, tenant, make_member):
    member = make_member(tenant, Role.OPERATOR)
    token, secret = account_services.personal_token_create(user=member, name="ws")
    output = _closed_after(f"token={secret}&tenant={tenant.slug}",
                           lambda: account_services.personal_token_revoke(token=token))
    assert output == {"type": "websocket.close", "code": 4401}


def test_revoking_another_key_leaves_the_connection_open_and_sends_no_internal_event(transactional_db, tenant):
    _key, secret = apikey_services.api_key_create(tenant=tenant, name="ws", scopes=["read"])
    other, _other_secret = apikey_services.api_key_create(tenant=tenant, name="other", scopes=["read"])

    def revoke_other_then_publish():
        apikey_services.api_key_revoke(key=other)
        live.publish(tenant_id=tenant.pk, event="run.status", data={"run_id": "r1", "status": "succeeded"})

    output = _closed_after(f"token={secret}", revoke_other_then_publish)
    assert output["type"] == "websocket.send", output
    assert '"run.status"' in output["text"]
