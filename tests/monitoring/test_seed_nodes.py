"""`manage.py seed_nodes --json FILE --tenant SLUG`."""
import json

import pytest
from django.core.management import CommandError, call_command

from monitoring.models import Node

pytestmark = pytest.mark.django_db

SEED = [
    {"name": "alpha", "ip": "203.0.113.10", "pubkey": "ed25519:AAA"},
    {"name": "beta", "ip": "node-b.example.com", "pubkey": "ed25519:BBB", "port": 8443,
     "check": {"type": "http", "path": "/health"}},
    {"name": "gamma", "ip": "2001:db8::7", "pubkey": "", "port": 22, "check": "tcp"},
]


def write(tmp_path, data, name="nodes.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_it_imports_the_seeds_nodes_json_and_is_idempotent(tmp_path, tenant, capsys):
    path = write(tmp_path, SEED)
    call_command("seed_nodes", "--json", path, "--tenant", tenant.slug, "--group", "bridge")
    assert "3 created, 0 updated" in capsys.readouterr().out
    beta = Node.objects.get(tenant=tenant, name="beta")
    assert (beta.address, beta.port, beta.path, beta.check_type, beta.group.name) == (
        "node-b.example.com", 8443, "/health", "http", "bridge")
    assert Node.objects.get(name="gamma").check_type == "tcp"

    changed = [{**SEED[0], "pubkey": "ed25519:NEW"}, *SEED[1:]]
    call_command("seed_nodes", "--json", write(tmp_path, changed), "--tenant", tenant.slug)
    assert "0 created, 3 updated" in capsys.readouterr().out
    assert Node.objects.filter(tenant=tenant).count() == 3
    assert Node.objects.get(name="alpha").pubkey == "ed25519:NEW"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"name": "a", "ip": "1.2.3.4"', "invalid JSON at line 1"),
        ('{"name": "a"}', "expected a JSON list"),
        ('[{"name": "a"}]', "'name' and 'ip' are required"),
        ('[{"name": "a", "ip": "1.2.3.4; rm -rf /"}]', "invalid ip/address"),
        ('[{"name": "a", "ip": "1.2.3.4", "check": "icmp"}]', "check must be one of"),
        ('[{"name": "a", "ip": "1.2.3.4", "port": 0}]', "port must be"),
    ],
)
def test_it_explains_bad_input_and_imports_nothing(tmp_path, tenant, content, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_nodes", "--json", write(tmp_path, content), "--tenant", tenant.slug)
    assert not Node.objects.exists()


def test_it_refuses_an_unknown_tenant(tmp_path, db):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("seed_nodes", "--json", write(tmp_path, SEED), "--tenant", "nope")
