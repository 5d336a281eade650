"""The role and scope matrix of logs, status and restart (tests/matrix.py), against the real sshd."""
import pytest

from tenants.policy import Action
from tests.deployments.factories import make_host, make_project
from tests.deployments.test_stacks import fake_docker  # noqa: F401 - fixture
from tests.matrix import Case, PermissionMatrix


class TestStackPermissions(PermissionMatrix):
    cases = [
        Case("status", "get", "/api/v1/stacks/{project}/status", Action.READ, 200),
        Case("logs", "get", "/api/v1/projects/{project}/logs?service=web&lines=2", Action.OPERATE_STACKS, 200),
        Case("restart", "post", "/api/v1/stacks/{project}/restart", Action.OPERATE_STACKS, 200, {"service": "web"}),
    ]

    @pytest.fixture(autouse=True)
    def _stack_host(self, sshd, fake_docker, workdir):  # noqa: F811
        (workdir / "web.out").write_text("one\ntwo\n")
        (workdir / "ps.json").write_text('{"Service": "web", "State": "running"}\n')
        self.sshd, self.workdir = sshd, workdir

    def make_data(self, tenant, actor):
        project = make_project(tenant, make_host(tenant, sshd=self.sshd), directory=str(self.workdir),
                               services=[{"name": "web"}])
        return {"project": project.name}
