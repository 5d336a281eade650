"""The console's actions: each declares the permission it needs (read-only operators can run
none), destructive ones ask first, rotation shows new secrets once, and bulk deletes go
through the services (so they are audited)."""
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import Client, RequestFactory
from django_celery_beat.models import PeriodicTask

from apikeys.models import ApiKey
from console.permissions import OPERATORS_GROUP, READ_ONLY_GROUP
from core.models import AuditEvent
from monitoring.models import Incident, Node, NodeGroup
from orchestration.models import Run, RunStatus
from tenants.models import Tenant
from tests.apikeys.factories import make_key
from tests.console.factories import StaffFactory
from tests.factories import UserFactory
from tests.monitoring.factories import NodeFactory
from tests.orchestration.factories import make_cluster

pytestmark = pytest.mark.django_db

CLUSTER = "name: slow\nsteps:\n  - id: a\n    satellite: sleep\n    inputs: {seconds: 60}\n"


def registered_actions():
    for model, model_admin in admin.site._registry.items():
        for name in model_admin.actions or ():
            func = getattr(model_admin, name) if isinstance(name, str) else name
            yield f"{model._meta.label}.{getattr(func, '__name__', name)}", func


def actions_for(group_name: str, model) -> set[str]:
    user = StaffFactory()
    user.groups.add(Group.objects.get(name=group_name))
    request = RequestFactory().get("/admin/")
    request.user = user
    return set(admin.site._registry[model].get_actions(request))


@pytest.mark.parametrize(("label", "func"), list(registered_actions()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_console_action_declares_the_permission_it_needs(label, func):
    assert getattr(func, "allowed_permissions", None), f"{label} runs for anyone who can view the list"


@pytest.mark.parametrize("model", [Tenant, ApiKey, Node, Incident, Run, PeriodicTask])
def test_a_read_only_operator_gets_no_action(model):
    assert actions_for(READ_ONLY_GROUP, model) == set()


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (Tenant, {"suspend", "reactivate"}),
        (ApiKey, {"revoke_keys", "rotate_keys"}),
        (Node, {"check_now", "pause", "resume", "delete_selected"}),
        (Run, {"cancel_runs", "retry_runs"}),
        (Incident, {"acknowledge"}),
        (PeriodicTask, {"enable_tasks", "disable_tasks", "run_tasks"}),
    ],
)
def test_operators_get_their_working_actions(model, expected):
    assert expected <= actions_for(OPERATORS_GROUP, model)


def test_suspending_in_the_admin_needs_the_suspend_permission():
    user = StaffFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_tenant", "change_tenant"]))
    request = RequestFactory().get("/admin/")
    request.user = user
    assert not {"suspend", "reactivate"} & set(admin.site._registry[Tenant].get_actions(request))


def post_action(client: Client, url: str, action: str, pks, *, confirmed: bool):
    data = {"action": action, "_selected_action": [str(pk) for pk in pks]}
    data.update({"post": "yes"} if confirmed else {"index": "0"})
    return client.post(url, data)


@pytest.fixture
def destructive_cases(tenant):
    key, _ = make_key(tenant)
    user = UserFactory()
    cluster = make_cluster(tenant, CLUSTER)
    run = Run.objects.create(tenant=tenant, cluster=cluster, version=1, status=RunStatus.RUNNING)
    return {
        "keys": ("/admin/apikeys/apikey/", "revoke_keys", key,
                 lambda: ApiKey.objects.get(pk=key.pk).revoked_at is None),
        "tenants": ("/admin/tenants/tenant/", "suspend", tenant,
                    lambda: Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.ACTIVE),
        "users": ("/admin/accounts/user/", "block_users", user,
                  lambda: type(user).objects.get(pk=user.pk).status == "active"),
        "runs": ("/admin/orchestration/run/", "cancel_runs", run,
                 lambda: Run.objects.get(pk=run.pk).status == RunStatus.RUNNING),
    }


@pytest.mark.parametrize("case", ["keys", "tenants", "users", "runs"])
def test_a_destructive_action_asks_before_it_acts(admin_site_client, destructive_cases, case):
    url, action, obj, untouched = destructive_cases[case]
    page = post_action(admin_site_client, url, action, [obj.pk], confirmed=False)
    assert page.status_code == 200
    assert 'id="confirm-action"' in page.content.decode() and str(obj) in page.content.decode()
    assert untouched()
    done = post_action(admin_site_client, url, action, [obj.pk], confirmed=True)
    assert done.status_code == 302
    assert not untouched()


def test_rotating_a_key_shows_the_new_secret_once(admin_site_client, tenant):
    key, old = make_key(tenant, name="deploy")
    page = post_action(admin_site_client, "/admin/apikeys/apikey/", "rotate_keys", [key.pk], confirmed=True)
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    new = html.split('<code class="new-secret">', 1)[1].split("<", 1)[0]
    key.refresh_from_db()
    assert key.matches(new) and not key.matches(old)
    assert key.digest not in html
    listing = admin_site_client.get("/admin/apikeys/apikey/").content.decode()
    assert new not in listing  # not carried into a message on the next page


def test_keys_tenants_and_users_cannot_be_hard_deleted(admin_site_client, tenant):
    key, _ = make_key(tenant)
    user = UserFactory()
    for url in (f"/admin/apikeys/apikey/{key.pk}/delete/", f"/admin/tenants/tenant/{tenant.pk}/delete/",
                f"/admin/accounts/user/{user.pk}/delete/"):
        assert admin_site_client.post(url, {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists() and Tenant.objects.filter(pk=tenant.pk).exists()


def test_bulk_deleting_nodes_goes_through_the_service_and_is_audited(admin_site_client, tenant, superuser):
    nodes = NodeFactory.create_batch(2, tenant=tenant)
    response = post_action(admin_site_client, "/admin/monitoring/node/", "delete_selected",
                           [n.pk for n in nodes], confirmed=True)
    assert response.status_code == 302
    assert not Node.objects.filter(pk__in=[n.pk for n in nodes]).exists()
    events = AuditEvent.objects.filter(action="node.delete", actor=superuser)
    assert {e.target_id for e in events} == {str(n.pk) for n in nodes}


def test_group_changes_in_the_admin_are_audited(admin_site_client, tenant, superuser):
    response = admin_site_client.post("/admin/monitoring/nodegroup/add/",
                                      {"tenant": str(tenant.pk), "name": "bridge", "min_online": "2",
                                       "description": ""})
    assert response.status_code == 302, response.content[:800]
    group = NodeGroup.objects.get(tenant=tenant, name="bridge")
    assert AuditEvent.objects.filter(action="node_group.create", actor=superuser, target_id=str(group.pk)).exists()


def test_the_node_and_incident_lists_show_relative_times(admin_site_client, tenant):
    from datetime import timedelta

    from django.utils import timezone

    from tests.monitoring.factories import IncidentFactory

    node = NodeFactory(tenant=tenant, last_checked_at=timezone.now() - timedelta(minutes=3))
    IncidentFactory(tenant=tenant, node=node, opened_at=timezone.now() - timedelta(hours=2))
    assert "3\xa0minutes ago" in admin_site_client.get("/admin/monitoring/node/").content.decode()
    assert "2\xa0hours ago" in admin_site_client.get("/admin/monitoring/incident/").content.decode()


def test_plan_changes_in_the_admin_go_through_the_service_and_are_audited(admin_site_client, superuser):
    from tenants.models import Plan

    prices = {"price_cents": "0", "currency": "eur", "interval": "month", "included_requests": "0",
              "overage_cents_per_1000": "0", "stripe_price_id": "", "storage_bytes": ""}
    response = admin_site_client.post("/admin/tenants/plan/add/",
                                      {"name": "Team", "slug": "team", "rates": '["100/m"]', **prices})
    assert response.status_code == 302, response.content[:800]
    plan = Plan.objects.get(slug="team")
    response = admin_site_client.post(f"/admin/tenants/plan/{plan.pk}/change/",
                                      {"name": "Team", "slug": "team", "rates": '["200/m"]', **prices})
    assert response.status_code == 302, response.content[:800]
    assert Plan.objects.get(pk=plan.pk).rates == ["200/m"]
    update = AuditEvent.objects.get(action="plan.update", actor=superuser)
    assert update.changes == {"rates": ["200/m"]}
    assert AuditEvent.objects.filter(action="plan.create", target_id=str(plan.pk)).exists()


def test_a_new_webhook_channels_signing_secret_is_shown_once_not_stored(admin_site_client, tenant):
    response = admin_site_client.post("/admin/monitoring/alertchannel/add/", {
        "tenant": str(tenant.pk), "name": "pager", "kind": "webhook", "url": "https://hooks.example.com/gs",
        "email": "", "enabled": "on", "remind_every_minutes": "",
    })
    assert response.status_code == 200, response.content[:800]
    html = response.content.decode()
    secret = html.split('<code class="new-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith("whsec_")
    assert "no-store" in response["Cache-Control"]
    assert secret not in admin_site_client.get("/admin/monitoring/alertchannel/").content.decode()


def test_operators_cannot_take_over_accounts_or_mint_staff(superuser):
    operator = StaffFactory()
    operator.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    customer = UserFactory()
    for target in (superuser, customer):
        assert client.get(f"/admin/accounts/user/{target.pk}/password/").status_code == 403
    page = client.get(f"/admin/accounts/user/{customer.pk}/change/")
    assert page.status_code == 200
    assert 'name="is_staff"' not in page.content.decode()  # shown read-only
    assert page.context["adminform"].form.fields.get("is_staff") is None


def test_operators_cannot_change_a_superusers_account_in_the_admin(superuser):
    operator = StaffFactory()
    operator.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    client = Client(raise_request_exception=False)
    client.force_login(operator)
    url = f"/admin/accounts/user/{superuser.pk}/change/"
    superuser_name = superuser.name

    assert client.get(url).context["has_change_permission"] is False
    assert client.post(url, {"name": "pwned", "type": "human", "verification_status": "verified"}).status_code == 403
    blocked = post_action(client, "/admin/accounts/user/", "block_users", [superuser.pk], confirmed=True)

    assert blocked.status_code == 302
    superuser.refresh_from_db()
    assert (superuser.name, superuser.status) == (superuser_name, "active")
