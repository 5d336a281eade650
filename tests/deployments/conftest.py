"""Fixtures of the deployments tests: one real sshd on loopback per test session
(tests/deployments/sshd.py), and a fresh working directory on it per test."""
import os
import shutil

import pytest

from tests.deployments.sshd import SSHD, SSHServer, ed25519_pair, free_port, running_sshd

__all__ = ["SSHServer", "ed25519_pair", "free_port"]  # also imported by the tests and factories


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    if not os.path.exists(SSHD):
        pytest.fail(f"{SSHD} is missing: install Debian's openssh-server (.ci/run does)")
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def workdir(sshd, tmp_path_factory):
    """A fresh directory on the host for one test (removed after it)."""
    path = sshd.workdir / tmp_path_factory.mktemp("w").name
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)
