"""core.events: an event reaches the installed transport after commit, never on rollback."""
import pytest
from django.db import transaction

from core import events
from monitoring import live


@pytest.fixture
def delivered(monkeypatch):
    sent: list[tuple] = []
    monkeypatch.setattr(events, "_transport", sent.extend)
    return sent


def test_monitoring_installs_its_live_transport():
    assert events._transport is live.publish_many


@pytest.mark.django_db(transaction=True)
def test_an_event_goes_out_when_the_transaction_commits(delivered):
    with transaction.atomic():
        events.publish_on_commit(events.Event(tenant_id="t1", name="run.status", data={"status": "running"}))
        assert delivered == []
    assert delivered == [("t1", "run.status", {"status": "running"})]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_publishes_nothing(delivered):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish_on_commit(events.Event(tenant_id="t1", name="run.status", data={}))
        raise RuntimeError("rolled back")
    assert delivered == []
