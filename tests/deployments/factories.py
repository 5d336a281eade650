"""Hosts and projects for the deployments tests, made through the app's services."""
from deployments import services
from tests.deployments.sshd import ed25519_pair

OTHER_HOST_KEY = " ".join(ed25519_pair("not-the-host")[1].split()[:2])


def make_host(tenant, *, sshd=None, name="web", **fields):
    """A host; with `sshd`, the test server (its real pin) with the tenant's deploy key authorised."""
    if sshd is not None:
        fields = {"address": sshd.address, "port": sshd.port, "username": sshd.username,
                  "host_key": sshd.host_key, **fields}
        sshd.authorize(services.deploy_key_get_or_create(tenant=tenant).public_key)
    fields = {"address": "192.0.2.10", "port": 22, "username": "deploy", "host_key": OTHER_HOST_KEY, **fields}
    return services.host_create(tenant=tenant, name=name, **fields)


def make_project(tenant, host, *, name="app", directory="/srv/app", **fields):
    return services.project_create(tenant=tenant, name=name, host=host, directory=directory, **fields)
