"""A real OpenSSH server on loopback (Debian's `openssh-server`), for the deployments tests
(tests/deployments/conftest.py) and the deploy benchmark (bench/deploy_bench.py).

`sshd -D -e` on a free port with its own host key, as the current user (root here and in CI; a
non-root user works too: no PAM, no strict modes, its own files only). `bin_dir` is first on the
remote PATH, so a stand-in executable there (a fake `docker`) is a real process the real sshd runs.
"""
from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deployments.remote import SSHTarget

SSHD = "/usr/sbin/sshd"
START_SECONDS = 15


def ed25519_pair(comment: str) -> tuple[str, str]:
    """(private key in OpenSSH format, public key line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode()} {comment}"


@dataclass
class SSHServer:
    address: str
    port: int
    username: str
    host_key: str  # the server's public host key line, "ssh-ed25519 AAAA…"
    private_key: str  # a client key in authorized_keys (OpenSSH format)
    public_key: str
    root: Path  # the server's own files
    workdir: Path  # where tests run remote commands
    bin_dir: Path  # first on the remote PATH

    def target(self, **overrides) -> SSHTarget:
        fields = {"address": self.address, "port": self.port, "username": self.username,
                  "private_key_openssh": self.private_key, "host_key": self.host_key, **overrides}
        return SSHTarget(**fields)

    def authorize(self, public_key_line: str) -> None:
        """Let another client key in (e.g. a tenant's generated deploy key)."""
        with open(self.root / "authorized_keys", "a") as keys:
            keys.write(public_key_line.strip() + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_banner(port: int, process: subprocess.Popen, log: Path) -> None:
    """Until the server answers with its SSH banner (bounded), or fail with its log."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.settimeout(2)
                if conn.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"sshd did not start within {START_SECONDS}s:\n{log.read_text()}")


@contextlib.contextmanager
def running_sshd(root: Path) -> Iterator[SSHServer]:
    """An sshd whose files live in `root` (created), stopped when the block ends."""
    workdir, bin_dir = root / "work", root / "bin"
    workdir.mkdir(parents=True)
    bin_dir.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-host", "-f", str(root / "host_key")],
                   check=True)
    private, public = ed25519_pair("test-client")
    (root / "authorized_keys").write_text(public + "\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation's chroot, compiled in
    port = free_port()
    (root / "sshd_config").write_text("\n".join([
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {root / 'host_key'}",
        f"AuthorizedKeysFile {root / 'authorized_keys'}",
        "PidFile none",
        "UsePAM no",
        "StrictModes no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password",
        "AllowTcpForwarding no",
        "X11Forwarding no",
        "PrintMotd no",
        "LogLevel VERBOSE",
        "MaxStartups 100:30:200",  # benchmarks open many connections at once
        f"SetEnv PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "",
    ]))
    log = root / "sshd.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")],
                                   stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for_banner(port, process, log)
        yield SSHServer(
            address="127.0.0.1", port=port, username=getpass.getuser(),
            host_key=" ".join((root / "host_key.pub").read_text().split()[:2]),
            private_key=private, public_key=public, root=root, workdir=workdir, bin_dir=bin_dir,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
