"""A task sent by the web process is executed by a real worker."""
import pytest
from django.core.management import call_command

from monitoring.models import Heartbeat

pytestmark = pytest.mark.worker


def test_smoke_command_sees_a_real_worker_run_the_task(live_worker, capsys):
    call_command("smoke", timeout=30)
    assert "ran the task" in capsys.readouterr().out
    assert not Heartbeat.objects.filter(key__startswith="smoke:").exists()
