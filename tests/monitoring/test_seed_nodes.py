"""`manage.py seed_nodes --json FILE --tenant SLUG`."""
import json
import os

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


def test_a_bare_entry_is_checked_with_the_stated_defaults_and_the_options_change_them(tmp_path, tenant):
    bare = [{"name": "alpha", "ip": "203.0.113.10"}, {"name": "beta", "ip": "203.0.113.11", "check": "http"}]
    call_command("seed_nodes", "--json", write(tmp_path, bare), "--tenant", tenant.slug)
    assert (Node.objects.get(name="alpha").check_type, Node.objects.get(name="alpha").port) == ("tcp", 80)

    call_command("seed_nodes", "--json", write(tmp_path, bare), "--tenant", tenant.slug,
                 "--check", "http", "--port", "8545")
    alpha, beta = Node.objects.get(name="alpha"), Node.objects.get(name="beta")
    assert (alpha.check_type, alpha.port) == ("http", 8545)
    assert (beta.check_type, beta.port) == ("http", 8545)  # its own check wins, the port is the option's


MAPPING = '''"""The status page's pillars."""
import os

TITLE = "Pillars"
PILLAR_MAPPING = {
    "5.161.213.40": {"name": "Anvil", "pubkey": "ed25519:ANV"},  # the first pillar
    "2001:db8::9": "Bellows",
}
open(os.path.join(SENTINEL_DIR, "executed"), "w")
'''


def test_it_reads_the_status_pages_mapping_file_without_executing_it(tmp_path, tenant, capsys):
    path = write(tmp_path, MAPPING.replace("SENTINEL_DIR", repr(str(tmp_path))), "status.py")
    call_command("seed_nodes", "--mapping-file", path, "--tenant", tenant.slug)
    assert "2 created, 0 updated" in capsys.readouterr().out
    anvil = Node.objects.get(tenant=tenant, name="Anvil")
    assert (anvil.address, anvil.pubkey, anvil.check_type) == ("5.161.213.40", "ed25519:ANV", "tcp")
    assert Node.objects.get(tenant=tenant, name="Bellows").address == "2001:db8::9"
    assert not (tmp_path / "executed").exists()


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ('M = {"1.2.3.4": {"name": __import__("os").getcwd()}}', [], "is not a literal"),
        ('M = {"1.2.3.4": {"name": "a"}}\nN = {"1.2.3.5": {"name": "b"}}', [], "several mappings"),
        ('M = {"1.2.3.4": {"name": "a"}}', ["--mapping-variable", "N"], "no a dict assigned to N"),
        ("M = [1, 2]", [], "no a top-level dict assignment"),
        ("M = {", [], "not valid Python"),
        ('M = {"1.2.3.4": {"name": "a"}, "1.2.3.5": ["b"]}', [], "'1.2.3.5': expected an object"),
        ('M = {"1.2.3.4": "a", "1.2.3.5": "a"}', [], "'1.2.3.5': the name 'a' is already used by '1.2.3.4'"),
        ('M = {"1.2.3.4; reboot": "a"}', [], "invalid ip/address"),
    ],
)
def test_a_bad_mapping_file_names_the_fault_and_imports_nothing(tmp_path, tenant, content, extra, message):
    path = write(tmp_path, content, "status.py")
    with pytest.raises(CommandError, match=message):
        call_command("seed_nodes", "--mapping-file", path, "--tenant", tenant.slug, *extra)
    assert not Node.objects.exists()


def test_a_mapping_file_picks_the_named_mapping(tmp_path, tenant):
    content = 'M = {"1.2.3.4": "a"}\nN = {"1.2.3.5": "b"}'
    call_command("seed_nodes", "--mapping-file", write(tmp_path, content, "s.py"), "--tenant", tenant.slug,
                 "--mapping-variable", "N")
    assert list(Node.objects.values_list("name", flat=True)) == ["b"]


def test_it_reads_nodes_from_the_environment_in_number_order(tenant, monkeypatch):
    monkeypatch.setenv("NODE_10_IP", "203.0.113.30")
    monkeypatch.setenv("NODE_10_NAME", "ten")
    monkeypatch.setenv("NODE_2_IP", "203.0.113.20")
    monkeypatch.setenv("NODE_2_NAME", "two")
    monkeypatch.setenv("NODE_2_PUBKEY", "ed25519:TWO")
    monkeypatch.setenv("NODE_2_PORT", "8545")
    call_command("seed_nodes", "--from-env", "--tenant", tenant.slug)
    two = Node.objects.get(tenant=tenant, name="two")
    assert (two.address, two.pubkey, two.port) == ("203.0.113.20", "ed25519:TWO", 8545)
    assert Node.objects.get(tenant=tenant, name="ten").port == 80


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "no NODE_<n>_IP"),
        ({"NODE_1_IP": "203.0.113.1", "NODE_1_NAME": "one", "NODE_2_NAME": "two"}, "NODE_2: 'name' and 'ip'"),
        ({"NODE_1_IP": "203.0.113.1", "NODE_1_NAME": "one", "NODE_1_PORT": "http"}, "NODE_1 \\(one\\): port"),
    ],
)
def test_bad_environment_variables_name_the_node_and_import_nothing(tenant, monkeypatch, variables, message):
    for key in [key for key in os.environ if key.startswith("NODE_")]:
        monkeypatch.delenv(key)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(CommandError, match=message):
        call_command("seed_nodes", "--from-env", "--tenant", tenant.slug)
    assert not Node.objects.exists()


def test_exactly_one_source_is_required(tmp_path, tenant):
    with pytest.raises(CommandError, match="one of the arguments"):
        call_command("seed_nodes", "--tenant", tenant.slug)
